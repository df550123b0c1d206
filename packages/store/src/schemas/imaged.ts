import type { SchemaDefinition } from '../migrate.js';
import { operationsMigrationSql } from './operations.js';

/**
 * imaged's schema. Images and kernels are content-addressed by `fingerprint` (unique), so an
 * unchanged rebuild finds the existing row; `paths` and `metadata` stay jsonb so that new
 * artefacts or lazily computed fields (work seed fingerprint) need no migration.
 */
export const imagedSchema: SchemaDefinition = {
  schema: 'imaged',
  migrations: [
    { version: 1, name: 'operations', sql: operationsMigrationSql('imaged') },
    {
      version: 2,
      name: 'kernels_images',
      sql: `
        CREATE TABLE imaged.kernels (
          id text PRIMARY KEY,
          name text NOT NULL UNIQUE,
          version text NOT NULL DEFAULT '',
          fingerprint text NOT NULL UNIQUE,
          paths jsonb NOT NULL DEFAULT '{}'::jsonb,
          metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
          created_at timestamptz NOT NULL DEFAULT now(),
          updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE imaged.images (
          id text PRIMARY KEY,
          name text NOT NULL UNIQUE,
          fingerprint text NOT NULL UNIQUE,
          recipe text,
          kernel_id text REFERENCES imaged.kernels (id) ON DELETE RESTRICT,
          source_vm_id text,
          paths jsonb NOT NULL DEFAULT '{}'::jsonb,
          metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
          size_bytes bigint,
          created_at timestamptz NOT NULL DEFAULT now(),
          updated_at timestamptz NOT NULL DEFAULT now(),
          last_used_at timestamptz
        );
        CREATE INDEX images_kernel_idx ON imaged.images (kernel_id);
      `,
    },
  ],
};
