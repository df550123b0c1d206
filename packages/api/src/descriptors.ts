import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';

/**
 * Absolute path of the raw FileDescriptorSet (with imports) built from proto/.
 * Server reflection needs these raw descriptors: proto-loader's merged ones
 * leave clients unable to find the services.
 */
export const descriptorSetPath: string = fileURLToPath(new URL('../gen/descriptor.binpb', import.meta.url));

/**
 * Splits a serialized FileDescriptorSet into its serialized FileDescriptorProtos
 * (field 1), without needing descriptor.proto's generated code.
 */
export function splitFileDescriptorSet(set: Uint8Array): Buffer[] {
  const reader = new BinaryReader(set);
  const files: Buffer[] = [];
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (field === 1 && wireType === WireType.LengthDelimited) {
      files.push(Buffer.from(reader.bytes()));
    } else {
      reader.skip(wireType);
    }
  }
  return files;
}

/**
 * The descriptors in the shape @grpc/reflection's ReflectionService reads from a
 * proto-loader PackageDefinition (it only looks at `fileDescriptorProtos`), so
 * `new ReflectionService(reflectionPackageDefinition() as PackageDefinition)`
 * serves every banger service and its imports by name.
 */
export function reflectionPackageDefinition(
  path: string = descriptorSetPath,
): Record<string, { fileDescriptorProtos: Buffer[] }> {
  return { 'banger.descriptor_set': { fileDescriptorProtos: splitFileDescriptorSet(readFileSync(path)) } };
}
