/**
 * @banger/api/common: one protobuf package alone, imported as `import * as ns from '@banger/api/common'`,
 * so a caller that needs one service does not load every service's generated code.
 */
export * from '../gen/index.banger.common.v1.js';
