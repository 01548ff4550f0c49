/**
 * VAE training step (ELBO forward + hand-written backward w.r.t. encoder and decoder) in
 * the fused WASM kernel vs the plain TypeScript implementation of the same maths
 * (src/models/vae/reference.ts), measured side by side in one run. Issue 5 sizes:
 * batch 256, M = 30, hidden 64, d = 8, J = 1; target WASM >= 5x.
 * Run: `npm run bench -- vae`.
 */
import { mat } from '../src/numeric/matrix.js'
import { Rng } from '../src/numeric/rng.js'
import { vaeElboGrad, vaeParamLengths, type VaeShape } from '../src/numeric/vae.js'
import { referenceElboGrad } from '../src/models/vae/reference.js'

const floors = { latentFloor: 1e-3, scaleFloor: 1e-3 }

/** Median wall time (ms) of `fn` over `reps` timed batches of `inner` calls, after warm-up. */
function timeMs(fn: () => void, inner: number, reps: number): number {
  for (let i = 0; i < inner; i++) fn()
  const t: number[] = []
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now()
    for (let i = 0; i < inner; i++) fn()
    t.push((performance.now() - t0) / inner)
  }
  t.sort((a, b) => a - b)
  return t[Math.floor(t.length / 2)]
}

interface Case {
  batch: number
  shape: VaeShape
  draws: number
}

export async function run(): Promise<void> {
  const cases: Case[] = [
    { batch: 256, shape: { features: 30, hidden: 64, latent: 8 }, draws: 1 },
    { batch: 256, shape: { features: 30, hidden: 64, latent: 8 }, draws: 4 },
    { batch: 1024, shape: { features: 9, hidden: 64, latent: 8 }, draws: 1 },
  ]
  console.log('| batch | M | hidden | d | J | WASM ms/step | TS ms/step | speed-up | max rel. grad diff |')
  console.log('|---|---|---|---|---|---|---|---|---|')
  for (const c of cases) {
    const rng = new Rng(`bench/vae/${c.batch}/${c.shape.features}/${c.draws}`)
    const len = vaeParamLengths(c.shape)
    const normals = (n: number, sd: number): Float64Array => {
      const v = new Float64Array(n)
      rng.fillNormal(v)
      return v.map((x) => x * sd)
    }
    const enc = normals(len.encoder, 0.2)
    const dec = normals(len.decoder, 0.2)
    const x = mat(c.batch, c.shape.features, normals(c.batch * c.shape.features, 1))
    const v = normals(c.draws * c.batch * c.shape.latent, 1)
    const a = vaeElboGrad(c.shape, enc, dec, x, v, floors)
    const b = referenceElboGrad(c.shape, enc, dec, x, v, floors)
    let diff = 0
    const scale = Math.max(...b.gradDecoder.map(Math.abs), ...b.gradEncoder.map(Math.abs))
    for (let i = 0; i < a.gradDecoder.length; i++) diff = Math.max(diff, Math.abs(a.gradDecoder[i] - b.gradDecoder[i]) / scale)
    for (let i = 0; i < a.gradEncoder.length; i++) diff = Math.max(diff, Math.abs(a.gradEncoder[i] - b.gradEncoder[i]) / scale)
    const wasm = timeMs(() => vaeElboGrad(c.shape, enc, dec, x, v, floors), 20, 9)
    const ts = timeMs(() => referenceElboGrad(c.shape, enc, dec, x, v, floors), 4, 9)
    console.log(
      `| ${c.batch} | ${c.shape.features} | ${c.shape.hidden} | ${c.shape.latent} | ${c.draws} | ${wasm.toFixed(3)} | ${ts.toFixed(3)} | ${(ts / wasm).toFixed(1)}x | ${diff.toExponential(1)} |`,
    )
  }
}
