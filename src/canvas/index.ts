/**
 * The canvas: signatures and the workflows built of them (chain, group, chord), sent as
 * Celery sends them so Python and Celeriac workers share them.
 */
export { Signature } from './signature.js';
export { CanvasSignature, type CanvasApp, type SignatureOptions } from './canvas-signature.js';
export { Chain, chain, type AnyCanvas, type ChainParent, type ElementResult } from './chain.js';
export { Group, group } from './group.js';
export { GroupResult } from './group-result.js';
export { MapSignature, ChunksSignature } from './map.js';
export {
  Chord,
  chord,
  type ChordOptions,
  type ChordPolicy,
  type SettledResult,
  type SettledResults,
  type HeaderResults,
  type HeaderArgs,
  type BodyFor,
  type ArrayOf,
} from './chord.js';
export type {
  Accepts,
  CanvasArgs,
  CanvasResult,
  ChainMismatch,
  CheckedChain,
  DropArgs,
  GroupLike,
  LastOf,
  PrefixOf,
  ResultsOf,
} from './canvas-types.js';
export type { CanvasHost } from './apply-json.js';
export { Workflow, workflow, type WorkflowNode, type WorkflowShape } from './workflow.js';
