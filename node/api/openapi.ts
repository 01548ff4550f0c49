/** OpenAPI 3.1 description of the node API (served at /openapi.json). */

const error = { type: 'object', required: ['error'], properties: { error: { type: 'string' } } }
const errorResponse = (description: string) => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } })
const secured = [{ bearer: [] }]

export function openApiDocument(maxBatch: number): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'collabdict node API',
      version: '1.0.0',
      description:
        'Anomaly scoring with this node\'s CollabDict model, its released differentially-private model, privacy ledger, status and metrics.',
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'Required when the node config sets api.token' } },
      schemas: {
        Error: error,
        ScoreRequest: {
          type: 'object',
          additionalProperties: false,
          required: ['samples'],
          properties: {
            samples: {
              type: 'array',
              minItems: 1,
              maxItems: maxBatch,
              description: 'Rows to score; each row has exactly the model\'s number of features, in training column order.',
              items: { type: 'array', items: { type: 'number' } },
            },
          },
        },
        ScoreResponse: {
          type: 'object',
          required: ['scores', 'threshold', 'anomalous'],
          properties: {
            scores: { type: 'array', items: { type: 'number' }, description: 'Anomaly score per row (eq. 20; higher = more anomalous)' },
            threshold: { type: 'number', description: 'Configured quantile of this node\'s training scores' },
            anomalous: { type: 'array', items: { type: 'boolean' }, description: 'score > threshold' },
          },
        },
      },
    },
    paths: {
      '/v1/score': {
        post: {
          summary: 'Score samples with this node\'s model',
          security: secured,
          requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/ScoreRequest' } } } },
          responses: {
            200: { description: 'Scores', content: { 'application/json': { schema: { $ref: '#/components/schemas/ScoreResponse' } } } },
            400: errorResponse('Malformed JSON, wrong dimension, non-numbers, empty batch'),
            401: errorResponse('Missing or wrong bearer token'),
            413: errorResponse(`More than ${maxBatch} samples, or body too large`),
            415: errorResponse('Body is not application/json'),
            422: errorResponse('A sample has no finite score'),
            503: errorResponse('No trained model yet'),
          },
        },
      },
      '/v1/model': {
        get: {
          summary: 'The released (Rényi-DP) global model',
          security: secured,
          responses: { 200: { description: 'Saved model JSON' }, 404: errorResponse('Not released yet') },
        },
      },
      '/v1/privacy': {
        get: { summary: 'Privacy ledger (releases and perturbations, epsilon spent)', security: secured, responses: { 200: { description: 'Ledger JSON' } } },
      },
      '/v1/status': {
        get: { summary: 'Training state, peers, iteration, consensus rounds', security: secured, responses: { 200: { description: 'Status' } } },
      },
      '/healthz': { get: { summary: 'Liveness', responses: { 200: { description: '{"ok": true}' } } } },
      '/metrics': { get: { summary: 'Prometheus metrics', responses: { 200: { description: 'text/plain; version=0.0.4' } } } },
    },
  }
}
