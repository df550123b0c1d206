import { readFileSync } from 'node:fs';
import { fromBinary, isFieldSet } from '@bufbuild/protobuf';
import {
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  FieldDescriptorProtoSchema,
  FileDescriptorSetSchema,
  type DescriptorProto,
  type EnumDescriptorProto,
  type FieldDescriptorProto,
  type FileDescriptorProto,
} from '@bufbuild/protobuf/wkt';
import { descriptorSetPath } from './descriptors.js';

// FileDescriptorProto / DescriptorProto / ServiceDescriptorProto field numbers, for source paths.
const MESSAGE = 4;
const ENUM = 5;
const SERVICE = 6;
const FIELD = 2;
const NESTED = 3;
const NESTED_ENUM = 4;
const METHOD = 2;
const VALUE = 2;

const SCALARS: Partial<Record<FieldDescriptorProto_Type, string>> = {
  [FieldDescriptorProto_Type.DOUBLE]: 'double',
  [FieldDescriptorProto_Type.FLOAT]: 'float',
  [FieldDescriptorProto_Type.INT64]: 'int64',
  [FieldDescriptorProto_Type.UINT64]: 'uint64',
  [FieldDescriptorProto_Type.INT32]: 'int32',
  [FieldDescriptorProto_Type.FIXED64]: 'fixed64',
  [FieldDescriptorProto_Type.FIXED32]: 'fixed32',
  [FieldDescriptorProto_Type.BOOL]: 'bool',
  [FieldDescriptorProto_Type.STRING]: 'string',
  [FieldDescriptorProto_Type.BYTES]: 'bytes',
  [FieldDescriptorProto_Type.UINT32]: 'uint32',
  [FieldDescriptorProto_Type.SFIXED32]: 'sfixed32',
  [FieldDescriptorProto_Type.SFIXED64]: 'sfixed64',
  [FieldDescriptorProto_Type.SINT32]: 'sint32',
  [FieldDescriptorProto_Type.SINT64]: 'sint64',
};

/** The `buf curl` section: how to call the daemons by hand, through server reflection. */
export const BUF_CURL_EXAMPLE = `buf curl --protocol grpc --http2-prior-knowledge --unix-socket /run/banger/vmd.sock \\
  -d '{"name": "dev", "image": "debian-bookworm"}' \\
  http://localhost/banger.vm.v1.VmService/CreateVm`;

function commentsOf(file: FileDescriptorProto): Map<string, string> {
  const out = new Map<string, string>();
  for (const loc of file.sourceCodeInfo?.location ?? []) {
    const text = (loc.leadingComments ?? '').trim();
    if (text) out.set(loc.path.join('.'), text.split('\n').map((l) => l.trim()).join(' '));
  }
  return out;
}

function cell(s: string): string {
  return s.replace(/\|/g, '\\|');
}

/** GitHub's heading anchor for `### name`. */
function anchor(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9_-]/g, '');
}

function typeRef(typeName: string | undefined, local: Set<string>): string {
  const name = (typeName ?? '').replace(/^\./, '');
  return local.has(name) ? `[\`${name}\`](#${anchor(name)})` : `\`${name}\``;
}

function fieldType(f: FieldDescriptorProto, local: Set<string>, maps: Map<string, DescriptorProto>): string {
  const map = f.typeName ? maps.get(f.typeName.replace(/^\./, '')) : undefined;
  if (map) {
    const [k, v] = map.field;
    return `map<${k ? fieldType(k, local, maps) : '?'}, ${v ? fieldType(v, local, maps) : '?'}>`;
  }
  const base = SCALARS[f.type] ?? typeRef(f.typeName, local);
  if (f.label === FieldDescriptorProto_Label.REPEATED) return `repeated ${base}`;
  return f.proto3Optional ? `optional ${base}` : base;
}

interface Named<T> {
  fullName: string;
  desc: T;
  path: number[];
  file: FileDescriptorProto;
}

function collect(file: FileDescriptorProto): { messages: Named<DescriptorProto>[]; enums: Named<EnumDescriptorProto>[] } {
  const messages: Named<DescriptorProto>[] = [];
  const enums: Named<EnumDescriptorProto>[] = [];
  const walk = (prefix: string, list: DescriptorProto[], path: number[]): void => {
    list.forEach((m, i) => {
      const fullName = `${prefix}.${m.name}`;
      const p = [...path, i];
      messages.push({ fullName, desc: m, path: p, file });
      m.enumType.forEach((e, j) => enums.push({ fullName: `${fullName}.${e.name}`, desc: e, path: [...p, NESTED_ENUM, j], file }));
      walk(fullName, m.nestedType, [...p, NESTED]);
    });
  };
  walk(file.package, file.messageType, [MESSAGE]);
  file.enumType.forEach((e, j) => enums.push({ fullName: `${file.package}.${e.name}`, desc: e, path: [ENUM, j], file }));
  return { messages, enums };
}

/**
 * docs/api.md from the descriptor set `buf build` makes of proto/ (with source info): every
 * service and RPC with its streaming shape, every banger message's fields and every enum,
 * with the comments written in the .proto files.
 */
export function apiReference(path: string = descriptorSetPath): string {
  const set = fromBinary(FileDescriptorSetSchema, readFileSync(path));
  const files = set.file.filter((f) => f.package.startsWith('banger.')).sort((a, b) => a.name.localeCompare(b.name));
  const comments = new Map(files.map((f) => [f.name, commentsOf(f)]));
  const all = files.map(collect);
  const messages = all.flatMap((a) => a.messages).filter((m) => !m.desc.options?.mapEntry);
  const maps = new Map(all.flatMap((a) => a.messages).filter((m) => m.desc.options?.mapEntry).map((m) => [m.fullName, m.desc]));
  const enums = all.flatMap((a) => a.enums);
  const local = new Set([...messages, ...enums].map((x) => x.fullName));
  const comment = (file: FileDescriptorProto, p: number[]): string => comments.get(file.name)?.get(p.join('.')) ?? '';

  const out: string[] = [
    '<!-- Generated by scripts/gen-docs.ts from proto/ (packages/api/gen/descriptor.binpb). Do not edit: run `npx tsx scripts/gen-docs.ts` (scripts/generate.sh does). -->',
    '# gRPC API reference',
    '',
    'Three services, each on its own Unix socket: `VmService` (vmd, `/run/banger/vmd.sock`),',
    '`ImageService` (imaged, `/run/banger/imaged.sock`) and `HelperService` (privhelper, root,',
    '`/run/banger/helper/privhelper.sock`, callers checked against `[privhelper] allowed_uids`).',
    'Every daemon serves gRPC server reflection, so `buf curl` needs no schema. A server stream',
    'prints one JSON message per event; `CreateVm` follows the create live and ends with the VM',
    '(or a `failure` event and the error status):',
    '',
    '```sh',
    BUF_CURL_EXAMPLE,
    '```',
    '',
    'Errors carry a `google.rpc.Status` with an `ErrorInfo` (domain `banger.dev`, a stable',
    'UPPER_SNAKE `reason`, the op id in its metadata) and, for bad input, a `BadRequest` naming',
    'the field. Send `x-op-id` to choose the op id; `x-banger-api-version` (major `1`)',
    'is checked when present.',
  ];
  for (const file of files) {
    file.service.forEach((svc, si) => {
      const name = `${file.package}.${svc.name}`;
      out.push('', `## ${name}`, '', `\`${file.name}\``);
      const c = comment(file, [SERVICE, si]);
      if (c) out.push('', c);
      out.push('', '| RPC | request | response | description |', '| --- | --- | --- | --- |');
      svc.method.forEach((m, mi) => {
        const req = `${m.clientStreaming ? 'stream ' : ''}${typeRef(m.inputType, local)}`;
        const res = `${m.serverStreaming ? 'stream ' : ''}${typeRef(m.outputType, local)}`;
        out.push(`| \`${m.name}\` | ${req} | ${res} | ${cell(comment(file, [SERVICE, si, METHOD, mi]))} |`);
      });
    });
  }
  out.push('', '## Messages');
  for (const m of messages.sort((a, b) => a.fullName.localeCompare(b.fullName))) {
    out.push('', `### ${m.fullName}`);
    const c = comment(m.file, m.path);
    if (c) out.push('', c);
    if (m.desc.field.length === 0) {
      out.push('', 'No fields.');
      continue;
    }
    out.push('', '| field | number | type | description |', '| --- | --- | --- | --- |');
    m.desc.field.forEach((f, fi) => {
      const oneof = isFieldSet(f, FieldDescriptorProtoSchema.field.oneofIndex) && !f.proto3Optional ? ` (oneof \`${m.desc.oneofDecl[f.oneofIndex]?.name ?? ''}\`)` : '';
      out.push(`| \`${f.name}\` | ${f.number} | ${fieldType(f, local, maps)}${oneof} | ${cell(comment(m.file, [...m.path, FIELD, fi]))} |`);
    });
  }
  out.push('', '## Enums');
  for (const e of enums.sort((a, b) => a.fullName.localeCompare(b.fullName))) {
    out.push('', `### ${e.fullName}`);
    const c = comment(e.file, e.path);
    if (c) out.push('', c);
    out.push('', '| value | number | description |', '| --- | --- | --- |');
    e.desc.value.forEach((v, vi) => out.push(`| \`${v.name}\` | ${v.number} | ${cell(comment(e.file, [...e.path, VALUE, vi]))} |`));
  }
  return `${out.join('\n')}\n`;
}
