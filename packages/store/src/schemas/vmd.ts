import type { SchemaDefinition } from '../migrate.js';
import { operationsMigrationSql } from './operations.js';

/**
 * vmd's schema. `image_id`/`kernel_id` name imaged's objects but are not foreign keys: imaged's
 * tables live in another schema (possibly another database) and are reached over gRPC only.
 * Addresses, MACs and tap names are unique so that a racing reservation fails ALREADY_EXISTS
 * instead of handing out the same address twice.
 */
export const vmdSchema: SchemaDefinition = {
  schema: 'vmd',
  migrations: [
    { version: 1, name: 'operations', sql: operationsMigrationSql('vmd') },
    {
      version: 2,
      name: 'vms',
      sql: `
        CREATE TABLE vmd.vms (
          id text PRIMARY KEY,
          name text NOT NULL UNIQUE,
          state text NOT NULL,
          image_id text NOT NULL,
          kernel_id text,
          vcpus integer NOT NULL CHECK (vcpus > 0),
          memory_mib integer NOT NULL CHECK (memory_mib > 0),
          work_disk_gib integer NOT NULL CHECK (work_disk_gib >= 0),
          spec jsonb NOT NULL DEFAULT '{}'::jsonb,
          runtime jsonb NOT NULL DEFAULT '{}'::jsonb,
          ipv4 inet UNIQUE,
          mac text UNIQUE,
          tap text UNIQUE,
          pid integer,
          create_op_id text,
          created_at timestamptz NOT NULL DEFAULT now(),
          updated_at timestamptz NOT NULL DEFAULT now(),
          started_at timestamptz,
          stopped_at timestamptz,
          last_used_at timestamptz
        );
        CREATE INDEX vms_state_idx ON vmd.vms (state);
        CREATE INDEX vms_image_idx ON vmd.vms (image_id);
      `,
    },
    {
      version: 3,
      name: 'vm egress policy',
      // Existing VMs keep today's behaviour: the internet, behind the guest network fences.
      sql: `ALTER TABLE vmd.vms ADD COLUMN egress jsonb NOT NULL DEFAULT '{"mode":"allow","cidrs":[],"hostnames":[]}'::jsonb;`,
    },
    {
      version: 4,
      name: 'snapshots',
      // The files belong to privhelper; this row names them. Clones record their snapshot in
      // vms.spec->>'fromSnapshot', so a snapshot row outlives the VM it was taken of.
      sql: `
        CREATE TABLE vmd.snapshots (
          id text PRIMARY KEY,
          name text NOT NULL UNIQUE,
          state text NOT NULL,
          source_vm_id text NOT NULL,
          source_vm_name text NOT NULL,
          image_id text NOT NULL,
          kernel_id text,
          vcpus integer NOT NULL CHECK (vcpus > 0),
          memory_mib integer NOT NULL CHECK (memory_mib > 0),
          work_disk_gib integer NOT NULL CHECK (work_disk_gib >= 0),
          spec jsonb NOT NULL DEFAULT '{}'::jsonb,
          files jsonb NOT NULL DEFAULT '{}'::jsonb,
          op_id text,
          created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX snapshots_source_idx ON vmd.snapshots (source_vm_id);
      `,
    },
  ],
};
