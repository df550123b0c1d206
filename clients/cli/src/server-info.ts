import { ServerInfoReply } from '@banger/api/server-info';
import type { DaemonName } from './daemon-services.js';

function getServerInfo(service: string) {
  return {
    getServerInfo: {
      path: `/${service}/GetServerInfo`,
      requestStream: false as const,
      responseStream: false as const,
      // GetServerInfoRequest has no fields.
      requestSerialize: (_value: Record<string, never>): Buffer => Buffer.alloc(0),
      requestDeserialize: (_value: Buffer): Record<string, never> => ({}),
      responseSerialize: (value: ServerInfoReply): Buffer => Buffer.from(ServerInfoReply.encode(value).finish()),
      responseDeserialize: (value: Buffer): ServerInfoReply => ServerInfoReply.decode(value),
    },
  };
}

/**
 * Each daemon's service reduced to GetServerInfo, coded with ServerInfoReply alone:
 * `banger version` asks all three daemons, and their full definitions would load every
 * service's generated code (docs/build.md, "CLI start-up").
 */
export const SERVER_INFO_SERVICES = {
  vmd: getServerInfo('banger.vm.v1.VmService'),
  imaged: getServerInfo('banger.image.v1.ImageService'),
  privhelper: getServerInfo('banger.helper.v2.HelperService'),
} satisfies Record<DaemonName, unknown>;

export type ServerInfoService = (typeof SERVER_INFO_SERVICES)[DaemonName];
