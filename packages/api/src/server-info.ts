import { BinaryReader, BinaryWriter } from '@bufbuild/protobuf/wire';
import { ServerInfo } from '../gen/banger/common/v1/server_info.js';

/**
 * @banger/api/server-info: ServerInfo and the GetServerInfo reply alone (a few KB), for a
 * client that only asks daemons who they are and must not load any service's generated code.
 */
export { ServerInfo };

/** Every service's GetServerInfoResponse: `banger.common.v1.ServerInfo info = 1`. */
export interface ServerInfoReply {
  info?: ServerInfo | undefined;
}

/** Codes the reply of all three services (clients/cli/src/server-info.test.ts checks it against theirs). */
export const ServerInfoReply = {
  encode(value: ServerInfoReply, writer: BinaryWriter = new BinaryWriter()): BinaryWriter {
    if (value.info !== undefined) ServerInfo.encode(value.info, writer.uint32(10).fork()).join();
    return writer;
  },
  decode(input: Uint8Array): ServerInfoReply {
    const reader = new BinaryReader(input);
    const out: ServerInfoReply = {};
    while (reader.pos < reader.len) {
      const tag = reader.uint32();
      if (tag === 10) out.info = ServerInfo.decode(reader, reader.uint32());
      else reader.skip(tag & 7);
    }
    return out;
  },
};
