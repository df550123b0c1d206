/**
 * @banger/api/image: one protobuf package alone, imported as `import * as ns from '@banger/api/image'`,
 * so a caller that needs one service does not load every service's generated code.
 */
export * from '../gen/index.banger.image.v1.js';
