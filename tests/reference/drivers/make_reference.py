"""Reference values for server/src/analysis/drivers.rs.

Writes data.csv (a fixed, seeded data set: an NPS-like score, four topic indicators, a
channel) and expected.json: OLS coefficients, HC3 standard errors and normal p-values from
statsmodels (`OLS(...).fit(cov_type="HC3")`), R², adjusted R², VIFs from statsmodels'
`variance_inflation_factor`, and LMG importances: the Shapley average of statsmodels R² over
every subset of the drivers, the channel dummy kept in every model (as relaimpo's `always`).

    python3 tests/reference/drivers/make_reference.py   # numpy, statsmodels
"""

import itertools
import json
import math
import os

import numpy as np
import statsmodels.api as sm
from statsmodels.stats.outliers_influence import variance_inflation_factor

HERE = os.path.dirname(os.path.abspath(__file__))
DRIVERS = ["delivery", "wait_time", "staff_friendliness", "price_billing"]

rng = np.random.default_rng(20261124)
n = 240
channel = rng.integers(0, 2, n)  # 0: survey.digital, 1: survey.after_service_call
delivery = (rng.random(n) < 0.35).astype(float)
# wait_time travels with delivery, as in real comments
wait_time = (rng.random(n) < 0.15 + 0.35 * delivery).astype(float)
staff = (rng.random(n) < 0.30).astype(float)
price = (rng.random(n) < 0.20).astype(float)
latent = 7.5 - 2.0 * delivery - 1.5 * wait_time + 1.2 * staff - 0.8 * price + 0.6 * channel
noise = rng.normal(0, 1.8 + 0.6 * delivery, n)  # heteroskedastic on purpose
score = np.clip(np.round(latent + noise), 0, 10)

drivers = np.column_stack([delivery, wait_time, staff, price])
with open(os.path.join(HERE, "data.csv"), "w") as out:
    out.write("score,channel," + ",".join(DRIVERS) + "\n")
    for i in range(n):
        out.write(
            f"{int(score[i])},{int(channel[i])},"
            + ",".join(str(int(v)) for v in drivers[i])
            + "\n"
        )

X = sm.add_constant(np.column_stack([drivers, channel]))
fit = sm.OLS(score, X).fit(cov_type="HC3")


def r2(columns):
    if not columns:
        return 0.0
    return sm.OLS(score, sm.add_constant(np.column_stack(columns))).fit().rsquared


controls_only = r2([channel])
k = len(DRIVERS)
lmg = []
for j in range(k):
    others = [i for i in range(k) if i != j]
    total = 0.0
    for size in range(k):
        weight = math.factorial(size) * math.factorial(k - size - 1) / math.factorial(k)
        for subset in itertools.combinations(others, size):
            base = [drivers[:, i] for i in subset] + [channel]
            total += weight * (r2(base + [drivers[:, j]]) - r2(base))
    lmg.append(total)

exog = np.column_stack([np.ones(n), drivers, channel])
expected = {
    "n": n,
    "coefficients": list(fit.params[1 : k + 1]),
    "intercept": fit.params[0],
    "channel_effect": fit.params[k + 1],
    "hc3_se": list(fit.bse[1 : k + 1]),
    "p_values": list(fit.pvalues[1 : k + 1]),
    "r2": fit.rsquared,
    "r2_adj": fit.rsquared_adj,
    "r2_controls_only": controls_only,
    "lmg": lmg,
    "vif": [variance_inflation_factor(exog, i) for i in range(1, k + 1)],
}
with open(os.path.join(HERE, "expected.json"), "w") as out:
    json.dump(expected, out, indent=1)
print(json.dumps(expected, indent=1))
