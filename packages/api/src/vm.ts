/**
 * @banger/api/vm: one protobuf package alone, imported as `import * as ns from '@banger/api/vm'`,
 * so a caller that needs one service does not load every service's generated code.
 */
export * from '../gen/index.banger.vm.v1.js';
