import path from 'node:path';
import type { Attacker } from '../lib/attacker.js';

/**
 * Disk images an attacker with the banger uid can make in a directory it owns, each one
 * naming a host file QEMU would open as root if it trusted the header. Only qemu-img and plain
 * file operations, all run as banger.
 */

/** A qcow2 whose backing file is `victim` (`-u`: qemu-img does not even open it). */
export async function qcow2WithBackingFile(a: Attacker, disk: string, victim: string): Promise<void> {
  await a.mkdir(path.dirname(disk));
  await a.must('qemu-img', ['create', '-q', '-f', 'qcow2', '-u', '-b', victim, '-F', 'raw', disk, '64M']);
}

/**
 * A qcow2 whose external data file is `victim`, raw: guest writes land in it. Created with a
 * data file of the attacker's own, then re-pointed with `qemu-img amend`, which does not open
 * the new data file, so the attacker never needs to read the victim.
 */
export async function qcow2WithDataFile(a: Attacker, disk: string, victim: string): Promise<void> {
  await a.mkdir(path.dirname(disk));
  await a.must('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', `data_file=${disk}.data,data_file_raw=on`, disk, '16M']);
  await a.must('qemu-img', ['amend', '-f', 'qcow2', '-o', `data_file=${victim}`, disk]);
  await a.rm(`${disk}.data`);
}

/** A small ext4 image of the attacker's (`mkfs.ext4` as banger), optionally with extra mkfs options. */
export async function ext4Image(a: Attacker, file: string, size = '16M', mkfsArgs: string[] = []): Promise<void> {
  await a.mkdir(path.dirname(file));
  await a.must('truncate', ['-s', size, file]);
  await a.must('mkfs.ext4', ['-q', '-F', ...mkfsArgs, file]);
}
