/** The numeric core's public face: everything other areas import from src/numeric. */
export * from './matrix.js'
export { buildId } from './wasm.js'
export * from './errors.js'
export { Rng, seedWords, lnExact, coreStream } from './rng.js'
export { cholesky, logdetSpd, solveTriangular, solveSpd, spdInverse, eigh, eigvalsh, clipEigenvalues } from './linalg.js'
export { gaussianLogDensities, eStep, mixtureStats, type EStepResult } from './mixture.js'
export { affineForward, affineBackward, relu, reluBackward, softplus, softplusBackward } from './mlp.js'
export { vaeElboGrad, vaeScore, vaeParamLengths, type VaeShape, type VaeFloors, type ElboGrad } from './vae.js'
