/**
 * JSON schemas of the node API's routes. @fastify/swagger builds the OpenAPI document
 * (/openapi.json, /docs) from them, so the document and the routes cannot drift apart.
 */

/** The body of every 4xx/5xx answer. */
export const ErrorSchema = {
  $id: 'Error',
  type: 'object',
  required: ['error'],
  properties: { error: { type: 'string', description: 'What went wrong and what to do' } },
} as const

/** A documented error response. */
export const errorRef = (description: string) => ({ description, $ref: 'Error#' })

/** A JSON object documented by its description only (serialised as it is). */
export const freeJson = (description: string) => ({ description, type: 'object', additionalProperties: true })

/** {"samples": number[][]} (referenced as 'ScoreRequest#'). */
export function scoreRequestSchema(maxBatch: number) {
  return {
    $id: 'ScoreRequest',
    type: 'object',
    additionalProperties: false,
    required: ['samples'],
    properties: {
      samples: {
        type: 'array',
        minItems: 1,
        maxItems: maxBatch,
        description:
          "Rows to score; each row has exactly the model's number of features, in training column order. null marks a missing value when the model was trained with missing: true (and always for the released model).",
        items: { type: 'array', items: { type: ['number', 'null'] } },
      },
    },
  } as const
}

export const ScoreResponse = {
  description: 'Scores; a classifier node adds class probabilities and the predicted class',
  type: 'object',
  required: ['scores', 'threshold', 'anomalous'],
  properties: {
    scores: {
      type: 'array',
      items: { type: 'number' },
      description: 'Anomaly score per row (eq. 20; higher = more anomalous). Classifier: 1 - p(class 0), the probability of a positive (non-reference) class',
    },
    threshold: { type: 'number', description: "Configured quantile of this node's training scores; classifier: the decision threshold 0.5" },
    anomalous: { type: 'array', items: { type: 'boolean' }, description: 'score > threshold (classifier: predicted positive)' },
    probabilities: {
      type: 'array',
      items: { type: 'array', items: { type: 'number', minimum: 0, maximum: 1 } },
      description:
        "Classifier nodes only (training.model.kind: classifier): per row, the probability of each class 0..K-1 under this node's model (softmax for the MLP, the logistic link for logistic regression; for the linear SVM the logistic map of the margin, uncalibrated). Each row sums to 1.",
    },
    predicted: { type: 'array', items: { type: 'integer', minimum: 0 }, description: 'Classifier nodes only: the most probable class per row' },
  },
} as const

export const PublicScoreResponse = {
  description: 'Scores of the released model',
  type: 'object',
  required: ['scores'],
  properties: { scores: { type: 'array', items: { type: 'number' }, description: 'Anomaly score per row under the released model (eq. 20)' } },
} as const

/** The document's header: title, description, security scheme, tags. */
export const OPENAPI_HEADER = {
  openapi: '3.1.0',
  info: {
    title: 'collabdict node API',
    version: '1.0.0',
    description:
      "Anomaly scoring with this node's CollabDict model (private) or its released differentially-private model (public), the privacy ledger, status and metrics. " +
      'Routes under /v1 need `Authorization: Bearer <token>` when the node config sets api.token.',
  },
  components: { securitySchemes: { bearer: { type: 'http' as const, scheme: 'bearer', description: 'Required when the node config sets api.token' } } },
  tags: [
    { name: 'scoring', description: 'Anomaly scores (higher = more anomalous, eq. 20)' },
    { name: 'privacy', description: 'The released model and the privacy ledger' },
    { name: 'operations', description: 'Status, health, metrics, documentation' },
  ],
}
