/**
 * @banger/api/helper: one protobuf package alone, imported as `import * as ns from '@banger/api/helper'`,
 * so a caller that needs one service does not load every service's generated code.
 */
export * from '../gen/index.banger.helper.v2.js';
