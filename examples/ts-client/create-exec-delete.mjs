// Creates a VM, runs a command in it and deletes it, with @banger/client.
//
//   npm install @banger/client        (or the tarball of `npm pack` in packages/client)
//   node create-exec-delete.mjs [NAME]
//
// It talks to the daemons of a standard install (/run/banger/*.sock); BANGER_RUN_DIR or
// BANGER_VMD_SOCKET point it elsewhere, as for the banger CLI.
// @ts-check
import { BangerClient, RpcError } from '@banger/client';

const name = process.argv[2] ?? 'example';
const banger = new BangerClient();
try {
  const info = await banger.serverInfo();
  console.log(`vmd ${info.version} (api ${info.apiVersion})`);

  const create = banger.createVm({ name, noWait: true });
  for await (const event of create) {
    const body = event.body;
    if (body?.$case === 'accepted') console.log(`creating ${name} (${body.value.opId})`);
    else if (body?.$case === 'stageFinished') console.log(`  ${body.value.stage} ${body.value.durationMs} ms`);
  }
  const vm = await create.result();
  console.log(`${vm.name} is up at ${vm.network?.ipv4}`);

  const res = await banger.exec(name, ['uname', '-a'], { commandTimeoutMs: 30_000 });
  process.stdout.write(Buffer.from(res.stdout));
  console.log(`exit ${res.status?.exitCode}`);

  await banger.deleteVm(name, { force: true });
  console.log(`deleted ${name}`);
} catch (err) {
  if (!(err instanceof RpcError)) throw err;
  // Every failure names its gRPC code, a stable reason and the op id to look up in the logs.
  console.error(`banger: ${err.codeName} ${err.reason}: ${err.message}`);
  process.exitCode = 1;
} finally {
  banger.close();
}
