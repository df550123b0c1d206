import * as commonv1 from '@banger/api/common';
import * as helperv2 from '@banger/api/helper';
import * as imagev1 from '@banger/api/image';
import * as vmv1 from '@banger/api/vm';
import { describe, expect, it } from 'vitest';
import { SERVER_INFO_SERVICES } from './server-info.js';

const info = commonv1.ServerInfo.fromPartial({ name: 'vmd', version: '0.1.0', apiVersion: '1', pid: 4242, startedAt: new Date('2026-12-02T04:00:00Z') });

describe('the GetServerInfo-only definitions', () => {
  const full = {
    vmd: [vmv1.VmServiceService.getServerInfo, vmv1.GetServerInfoResponse],
    imaged: [imagev1.ImageServiceService.getServerInfo, imagev1.GetServerInfoResponse],
    privhelper: [helperv2.HelperServiceService.getServerInfo, helperv2.GetServerInfoResponse],
  } as const;

  for (const [daemon, [method, response]] of Object.entries(full)) {
    const mini = SERVER_INFO_SERVICES[daemon as keyof typeof full].getServerInfo;
    it(`${daemon}: same path, and bytes compatible with the generated messages both ways`, () => {
      expect(mini.path).toBe(method.path);
      expect(mini.requestSerialize({})).toEqual(method.requestSerialize({}));
      const wire = method.responseSerialize(response.fromPartial({ info }));
      expect(mini.responseDeserialize(wire)).toEqual({ info });
      expect(method.responseDeserialize(mini.responseSerialize({ info }))).toEqual(response.fromPartial({ info }));
      expect(mini.responseDeserialize(Buffer.alloc(0))).toEqual({});
    });
  }
});
