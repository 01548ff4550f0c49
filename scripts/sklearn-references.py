#!/usr/bin/python3
"""Offline references for the detection table (issue 16), computed once with Debian's
python3-sklearn (apt-get install -y python3-sklearn) on the pooled training rows of the
protocol's split (npx tsx sim/experiments/detection-splits.ts writes it):

  GaussianMixture: features standardised with the pooled training rows' mean and std,
                   full covariances, reg_covar 1e-3, K in 1..8 chosen by BIC (random_state 0)
  IsolationForest: 100 trees, random_state 0, raw features
  LocalOutlierFactor: novelty=True, 20 neighbours, standardised features

Scores (higher = more anomalous) on the pooled test set (all held-out normal rows and all
anomalies); ROC-AUC and PR-AUC (average precision).

  /usr/bin/python3 scripts/sklearn-references.py reports/detection/splits.json test/golden/detection_sklearn.json
"""
import csv
import json
import sys

import numpy as np
import sklearn
from sklearn.ensemble import IsolationForest
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import LocalOutlierFactor


def load(path):
    with open(path) as f:
        rows = list(csv.reader(f))
    header = rows[0]
    a = np.array([[float(v) for v in r] for r in rows[1:]])
    j = header.index("anomaly")
    return np.delete(a, j, axis=1), a[:, j]


def auc(scores, y):
    return {"roc": float(roc_auc_score(y, scores)), "pr": float(average_precision_score(y, scores))}


def main(splits_path, out_path):
    splits = json.load(open(splits_path))
    out = {
        "command": "/usr/bin/python3 scripts/sklearn-references.py " + splits_path + " " + out_path,
        "sklearn": sklearn.__version__,
        "protocol": {"seed": splits["seed"], "S": splits["S"], "testFraction": splits["testFraction"]},
        "sets": {},
    }
    for name, s in splits["sets"].items():
        X, _ = load(s["file"])
        train = X[np.array(s["train"])]
        test_idx = np.array(s["testNormal"] + s["anomalies"])
        y = np.array([0] * len(s["testNormal"]) + [1] * len(s["anomalies"]))
        test = X[test_idx]
        mu, sd = train.mean(axis=0), train.std(axis=0)
        sd[sd == 0] = 1
        zt, zs = (train - mu) / sd, (test - mu) / sd
        fits = []
        for k in range(1, 9):
            g = GaussianMixture(n_components=k, covariance_type="full", reg_covar=1e-3, random_state=0).fit(zt)
            fits.append((g.bic(zt), k, g))
        bic, k, g = min(fits, key=lambda f: f[0])
        gmm = auc(-g.score_samples(zs), y)
        gmm["K"] = k
        gmm["bic"] = {str(kk): float(b) for b, kk, _ in fits}
        iforest = auc(-IsolationForest(n_estimators=100, random_state=0).fit(train).score_samples(test), y)
        lof = auc(-LocalOutlierFactor(n_neighbors=20, novelty=True).fit(zt).score_samples(zs), y)
        out["sets"][name] = {"trainRows": int(len(train)), "testRows": int(len(test)), "gmm": gmm, "iforest": iforest, "lof": lof}
        print(f"{name}: GMM K={k} ROC {gmm['roc']:.4f} PR {gmm['pr']:.4f} | IForest ROC {iforest['roc']:.4f} | LOF ROC {lof['roc']:.4f}", flush=True)
    with open(out_path, "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
