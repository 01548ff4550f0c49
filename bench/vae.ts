/**
 * VAE training step (ELBO forward + hand-written backward w.r.t. encoder and decoder) in
 * the fused WASM kernel vs the plain TypeScript implementation of the same maths
 * (src/models/vae/reference.ts), measured side by side in one run. Issue 5 sizes:
 * batch 256, M = 30, hidden 64, d = 8, J = 1; target WASM >= 5x. The speed-up column is the
 * median of per-repetition ratios of interleaved timings (robust to load on a shared host).
 * Run: `npm run bench -- vae`.
 */
import { mat } from '../src/numeric/matrix.js'
import { Rng } from '../src/numeric/rng.js'
import { vaeElboGrad, vaeParamLengths, type VaeShape } from '../src/numeric/vae.js'
import { referenceElboGrad } from '../src/models/vae/reference.js'

const floors = { latentFloor: 1e-3, scaleFloor: 1e-3 }

const median = (v: number[]): number => v.slice().sort((a, b) => a - b)[Math.floor(v.length / 2)]

/**
 * Interleaved timing: each repetition times `innerA` calls of `a` then `innerB` calls of
 * `b`, so both see the same machine load (this host is shared); returns the median ms per
 * call of each and the median of the per-repetition ratios b / a.
 */
function sideBySide(a: () => void, innerA: number, b: () => void, innerB: number, reps: number): { a: number; b: number; ratio: number } {
  for (let i = 0; i < innerA; i++) a()
  for (let i = 0; i < innerB; i++) b()
  const ta: number[] = []
  const tb: number[] = []
  const ratio: number[] = []
  for (let r = 0; r < reps; r++) {
    let t0 = performance.now()
    for (let i = 0; i < innerA; i++) a()
    ta.push((performance.now() - t0) / innerA)
    t0 = performance.now()
    for (let i = 0; i < innerB; i++) b()
    tb.push((performance.now() - t0) / innerB)
    ratio.push(tb[r] / ta[r])
  }
  return { a: median(ta), b: median(tb), ratio: median(ratio) }
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
    const t = sideBySide(
      () => vaeElboGrad(c.shape, enc, dec, x, v, floors),
      16,
      () => referenceElboGrad(c.shape, enc, dec, x, v, floors),
      2,
      15,
    )
    console.log(
      `| ${c.batch} | ${c.shape.features} | ${c.shape.hidden} | ${c.shape.latent} | ${c.draws} | ${t.a.toFixed(3)} | ${t.b.toFixed(3)} | ${t.ratio.toFixed(1)}x | ${diff.toExponential(1)} |`,
    )
  }
}
