"""Private numba kernels of the allocation solver; `solver.py` validates inputs and drives them.

Arrays are pre-scaled by the wrapper so the margin of device d at t is
    revenue - w[d] * energy[f, t],  revenue = hr[d] * hashprice_dt[t] (ASIC) or rate_dt[k, t] (GPU),
with w the facility draw in kW (PUE included) and all money in USD per interval.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

_NEG = -1e30  # value of a forbidden "on" slot: large enough to never win, small enough not to overflow sums

RUNNING, PRICE_ABOVE_BREAKEVEN, POWER_CAP_BINDING, DEMAND_EXHAUSTED, RESTART_NOT_WORTH_IT = 0, 1, 2, 3, 4


@njit(cache=True, inline="always")
def _margin(d, t, fac, pool, w, hr, hashprice_dt, rate_dt, energy):
    k = pool[d]
    revenue = rate_dt[k, t] if k >= 0 else hr[d] * hashprice_dt[t]
    return revenue - w[d] * energy[fac[d], t]


@njit(cache=True)
def _schedule(vals, restart, initial_on, choice, out):
    """Best on/off path for one device: `vals[t]` earned when on, `restart` paid per switch-on; returns its value."""
    T = vals.shape[0]
    v_on = 0.0 if initial_on else _NEG
    v_off = _NEG if initial_on else 0.0
    for t in range(T):
        stay = v_on
        start = v_off - restart
        c = 0
        if stay >= start:
            new_on = stay + vals[t]
            c = 1
        else:
            new_on = start + vals[t]
        if v_on > v_off:  # off after on costs nothing; prefer staying off on ties
            new_off = v_on
            c |= 2
        else:
            new_off = v_off
        choice[t] = c
        v_on, v_off = new_on, new_off
    state = 1 if v_on > v_off else 0
    best = max(v_on, v_off)
    for t in range(T - 1, -1, -1):
        out[t] = state
        state = (choice[t] & 1) if state == 1 else (choice[t] >> 1) & 1
    return best


@njit(cache=True, parallel=True)
def relax(fac, pool, w, hr, restart, initial_on, hashprice_dt, rate_dt, energy, lam, pi, x, chunk):
    """Lagrangian subproblem: each device's best path at power price `lam` and pool price `pi`.

    Writes the paths to x and returns (sum of path values, facility load [F, T], pool count [K, T]).
    """
    D, T = x.shape
    F, K = lam.shape[0], pi.shape[0]
    n_chunks = (D + chunk - 1) // chunk
    loads = np.zeros((n_chunks, F, T))
    counts = np.zeros((n_chunks, K, T), dtype=np.int64)
    values = np.zeros(n_chunks)
    for c in prange(n_chunks):
        vals = np.empty(T)
        choice = np.empty(T, dtype=np.uint8)
        for d in range(c * chunk, min(D, (c + 1) * chunk)):
            f, k = fac[d], pool[d]
            for t in range(T):
                v = _margin(d, t, fac, pool, w, hr, hashprice_dt, rate_dt, energy) - lam[f, t] * w[d]
                vals[t] = v + pi[k, t] if k >= 0 else v
            values[c] += _schedule(vals, restart[d], initial_on[d], choice, x[d])
            for t in range(T):
                if x[d, t]:
                    loads[c, f, t] += w[d]
                    if k >= 0:
                        counts[c, k, t] += 1
    return values.sum(), loads.sum(axis=0), counts.sum(axis=0)


@njit(cache=True, parallel=True)
def score(fac, pool, w, hr, restart, initial_on, hashprice_dt, rate_dt, energy, x, chunk):
    """(margins - restart costs of plan x, facility load [F, T], pool count [K, T]); penalties are added by the caller."""
    D, T = x.shape
    F, K = energy.shape[0], rate_dt.shape[0]
    n_chunks = (D + chunk - 1) // chunk
    loads = np.zeros((n_chunks, F, T))
    counts = np.zeros((n_chunks, K, T), dtype=np.int64)
    values = np.zeros(n_chunks)
    for c in prange(n_chunks):
        for d in range(c * chunk, min(D, (c + 1) * chunk)):
            f, k = fac[d], pool[d]
            before = initial_on[d]
            for t in range(T):
                if x[d, t]:
                    values[c] += _margin(d, t, fac, pool, w, hr, hashprice_dt, rate_dt, energy)
                    if not before:
                        values[c] -= restart[d]
                    loads[c, f, t] += w[d]
                    if k >= 0:
                        counts[c, k, t] += 1
                before = x[d, t]
    return values.sum(), loads.sum(axis=0), counts.sum(axis=0)


@njit(cache=True, parallel=True)
def clearing_prices(fac_order, fac_start, pool, w, hr, hashprice_dt, rate_dt, energy, fac, cap):
    """Per (facility, interval): the margin per kW of the marginal device when devices fill the cap best-first.

    A good start for the power multipliers: it ignores restarts and pools, which the subgradient then fixes.
    """
    F, T = cap.shape
    lam = np.zeros((F, T))
    for ft in prange(F * T):
        f, t = ft // T, ft % T
        members = fac_order[fac_start[f] : fac_start[f + 1]]
        ratio = np.empty(members.shape[0])
        for i in range(members.shape[0]):
            d = members[i]
            m = _margin(d, t, fac, pool, w, hr, hashprice_dt, rate_dt, energy)
            ratio[i] = m / w[d] if w[d] > 0 and m > 0 else 0.0
        order = np.argsort(-ratio)
        used = 0.0
        for i in order:
            if ratio[i] <= 0:
                break
            used += w[members[i]]
            if used > cap[f, t]:
                lam[f, t] = ratio[i]
                break
    return lam


@njit(cache=True, inline="always")
def _local_value(d, t, x, restart, initial_on, margin):
    """Change in objective from switching device d on at t (others and its own neighbours fixed)."""
    T = x.shape[1]
    before = x[d, t - 1] if t > 0 else initial_on[d]
    v = margin
    if not before:
        v -= restart[d]
    if t + 1 < T and x[d, t + 1]:
        v += restart[d]
    return v


@njit(cache=True)
def _repair_column(t, x, fac, pool, w, hr, restart, initial_on, hashprice_dt, rate_dt, energy, cap, demand,
                   committed, bonus, fac_order, fac_start, tol):  # fmt: skip
    """Make column t feasible: drop the least valuable GPUs over demand, then the lowest value per kW over
    the cap; then re-add the best devices that still fit."""
    D = x.shape[0]
    F, K = cap.shape[0], demand.shape[0]
    load = np.zeros(F)
    count = np.zeros(K, dtype=np.int64)
    value = np.empty(D)
    for d in range(D):
        m = _margin(d, t, fac, pool, w, hr, hashprice_dt, rate_dt, energy)
        value[d] = _local_value(d, t, x, restart, initial_on, m)
        if x[d, t]:
            load[fac[d]] += w[d]
            if pool[d] >= 0:
                count[pool[d]] += 1
    for d in range(D):  # a GPU serving towards the commitment also saves the penalty
        k = pool[d]
        if k >= 0 and count[k] <= committed[k, t]:
            value[d] += bonus[k]
    for k in range(K):
        if count[k] > demand[k, t]:
            cand = np.array([d for d in range(D) if pool[d] == k and x[d, t]])
            for d in cand[np.argsort(value[cand])]:
                if count[k] <= demand[k, t]:
                    break
                x[d, t] = 0
                count[k] -= 1
                load[fac[d]] -= w[d]
    for f in range(F):
        members = fac_order[fac_start[f] : fac_start[f + 1]]
        if load[f] > cap[f, t] + tol:
            cand = np.array([d for d in members if x[d, t] and w[d] > 0])
            key = np.array([value[d] / w[d] for d in cand])
            for d in cand[np.argsort(key)]:
                if load[f] <= cap[f, t] + tol:
                    break
                x[d, t] = 0
                load[f] -= w[d]
                if pool[d] >= 0:
                    count[pool[d]] -= 1
        cand = np.array([d for d in members if not x[d, t] and value[d] > 0])
        key = np.array([-value[d] / max(w[d], 1e-12) for d in cand])
        for d in cand[np.argsort(key)]:
            k = pool[d]
            if load[f] + w[d] > cap[f, t] + tol or (k >= 0 and count[k] >= demand[k, t]):
                continue
            if k >= 0 and count[k] >= committed[k, t] and value[d] - bonus[k] <= 0:
                continue  # the bonus was earned by GPUs added before this one
            x[d, t] = 1
            load[f] += w[d]
            if k >= 0:
                count[k] += 1


@njit(cache=True, parallel=True)
def repair(x, fac, pool, w, hr, restart, initial_on, hashprice_dt, rate_dt, energy, cap, demand, committed,
           bonus, fac_order, fac_start, tol):  # fmt: skip
    """Turn plan x into a feasible one in place, column by column.

    Even intervals first, then odd ones: a column's local values read only its neighbours, which stay
    fixed within each half, so the columns of a half are repaired in parallel.
    """
    T = x.shape[1]
    for parity in range(2):
        for i in prange((T - parity + 1) // 2):
            _repair_column(2 * i + parity, x, fac, pool, w, hr, restart, initial_on, hashprice_dt, rate_dt,
                           energy, cap, demand, committed, bonus, fac_order, fac_start, tol)  # fmt: skip


@njit(cache=True)
def _polish_device(d, x, load, count, fac, pool, w, hr, restart, initial_on, hashprice_dt, rate_dt, energy,
                   cap, demand, committed, bonus, tol, vals, choice, row):  # fmt: skip
    """Re-plan device d's whole path given every other device; returns the objective gain (>= 0)."""
    T = x.shape[1]
    f, k = fac[d], pool[d]
    old = 0.0
    before = initial_on[d]
    for t in range(T):
        on = x[d, t]
        m = _margin(d, t, fac, pool, w, hr, hashprice_dt, rate_dt, energy)
        room = load[f, t] - w[d] * on + w[d] <= cap[f, t] + tol
        if k >= 0:
            others = count[k, t] - on
            room = room and others < demand[k, t]
            if others < committed[k, t]:
                m += bonus[k]
        vals[t] = m if room else _NEG
        if on:
            old += vals[t] - (0.0 if before else restart[d])
        before = on
    new = _schedule(vals, restart[d], initial_on[d], choice, row)
    if new <= old + 1e-9:
        return 0.0
    for t in range(T):
        delta = np.int64(row[t]) - np.int64(x[d, t])
        if delta != 0:
            load[f, t] += delta * w[d]
            if k >= 0:
                count[k, t] += delta
            x[d, t] = row[t]
    return new - old


@njit(cache=True, parallel=True)
def polish(x, load, count, fac, pool, w, hr, restart, initial_on, hashprice_dt, rate_dt, energy, cap, demand,
           committed, bonus, fac_order, fac_start, tol):  # fmt: skip
    """One pass of single-device re-planning over a feasible plan (updates x, load, count); returns the gain.

    ASICs of different facilities share nothing, so facilities run in parallel; GPUs share pools and
    run afterwards in one thread.
    """
    F = cap.shape[0]
    T = x.shape[1]
    gains = np.zeros(F)
    for f in prange(F):
        vals = np.empty(T)
        choice = np.empty(T, dtype=np.uint8)
        row = np.empty(T, dtype=np.uint8)
        for d in fac_order[fac_start[f] : fac_start[f + 1]]:
            if pool[d] < 0:
                gains[f] += _polish_device(d, x, load, count, fac, pool, w, hr, restart, initial_on, hashprice_dt,
                                           rate_dt, energy, cap, demand, committed, bonus, tol, vals, choice, row)  # fmt: skip
    gain = gains.sum()
    vals = np.empty(T)
    choice = np.empty(T, dtype=np.uint8)
    row = np.empty(T, dtype=np.uint8)
    for d in fac_order:
        if pool[d] >= 0:
            gain += _polish_device(d, x, load, count, fac, pool, w, hr, restart, initial_on, hashprice_dt,
                                   rate_dt, energy, cap, demand, committed, bonus, tol, vals, choice, row)  # fmt: skip
    return gain


@njit(cache=True)
def exact_columns(x, load, count, fac, pool, w, hr, restart, initial_on, hashprice_dt, rate_dt, energy, cap,
                  demand, committed, bonus, tol):  # fmt: skip
    """Re-pack every interval exactly (all subsets of devices, neighbours fixed); small D only. Returns the gain."""
    D, T = x.shape
    F, K = cap.shape[0], demand.shape[0]
    gain = 0.0
    value = np.empty(D)
    for t in range(T):
        for d in range(D):
            m = _margin(d, t, fac, pool, w, hr, hashprice_dt, rate_dt, energy)
            value[d] = _local_value(d, t, x, restart, initial_on, m)
        current = 0
        for d in range(D):
            if x[d, t]:
                current |= 1 << d
        best_mask, best_value = current, -np.inf
        ld = np.empty(F)
        ct = np.empty(K, dtype=np.int64)
        for mask in range(1 << D):
            ld[:] = 0.0
            ct[:] = 0
            v = 0.0
            for d in range(D):
                if mask >> d & 1:
                    ld[fac[d]] += w[d]
                    v += value[d]
                    if pool[d] >= 0:
                        ct[pool[d]] += 1
            ok = True
            for f in range(F):
                ok = ok and ld[f] <= cap[f, t] + tol
            for k in range(K):
                ok = ok and ct[k] <= demand[k, t]
                v += bonus[k] * min(ct[k], committed[k, t])
            if ok and (v > best_value + 1e-9 or (mask == current and v >= best_value - 1e-9)):
                best_mask, best_value = mask, v
        if best_mask != current:
            old = 0.0
            for k in range(K):
                ct[k] = count[k, t]
                old += bonus[k] * min(count[k, t], committed[k, t])
            for d in range(D):
                if x[d, t]:
                    old += value[d]
            gain += best_value - old
            for d in range(D):
                on = (best_mask >> d) & 1
                delta = on - np.int64(x[d, t])
                load[fac[d], t] += delta * w[d]
                if pool[d] >= 0:
                    count[pool[d], t] += delta
                x[d, t] = on
    return gain


@njit(cache=True, parallel=True)
def reasons(
    x, load, count, fac, pool, w, hr, hashprice_dt, rate_dt, energy, cap, demand, committed, bonus, tol
):
    """Why each device is off in each interval (codes above; RUNNING where on), int8[D, T]."""
    D, T = x.shape
    out = np.zeros((D, T), dtype=np.int8)
    for d in prange(D):
        f, k = fac[d], pool[d]
        for t in range(T):
            if x[d, t]:
                continue
            m = _margin(d, t, fac, pool, w, hr, hashprice_dt, rate_dt, energy)
            if k >= 0 and count[k, t] < committed[k, t]:
                m += bonus[k]
            if m <= 0:
                out[d, t] = PRICE_ABOVE_BREAKEVEN
            elif k >= 0 and count[k, t] >= demand[k, t]:
                out[d, t] = DEMAND_EXHAUSTED
            elif load[f, t] + w[d] > cap[f, t] + tol:
                out[d, t] = POWER_CAP_BINDING
            else:
                out[d, t] = RESTART_NOT_WORTH_IT
    return out


@njit(cache=True)
def _pair_values(a, b, t, x, load, count, fac, pool, w, hr, hashprice_dt, rate_dt, energy, cap, demand, committed,
                 bonus, tol, vals):  # fmt: skip
    """Value of the four joint states (bit 0: a on, bit 1: b on) at t, others fixed; _NEG where infeasible."""
    devices = (a, b)
    for s in range(4):
        v = 0.0
        ok = True
        for i in range(2):
            d = devices[i]
            on = (s >> i) & 1
            f, k = fac[d], pool[d]
            # facility draw and pool count without a and b, plus this state's devices of the same group
            ld = load[f, t]
            ct = count[k, t] if k >= 0 else 0
            added_ld, added_ct = 0.0, 0
            for j in range(2):
                e = devices[j]
                if fac[e] == f:
                    ld -= w[e] * x[e, t]
                    added_ld += w[e] * ((s >> j) & 1)
                if k >= 0 and pool[e] == k:
                    ct -= x[e, t]
                    added_ct += (s >> j) & 1
            ok = ok and ld + added_ld <= cap[f, t] + tol
            if on:
                v += _margin(d, t, fac, pool, w, hr, hashprice_dt, rate_dt, energy)
                if k >= 0:
                    ok = ok and ct + added_ct <= demand[k, t]
                    # this GPU's share of the penalty saved: the slot below the commitment it fills
                    rank = ct + (1 if (i == 1 and pool[a] == k and (s & 1)) else 0)
                    if rank < committed[k, t]:
                        v += bonus[k]
        vals[t, s] = v if ok else _NEG


@njit(cache=True)
def pair_polish(x, load, count, fac, pool, w, hr, restart, initial_on, hashprice_dt, rate_dt, energy, cap, demand,
                committed, bonus, pair_a, pair_b, tol):  # fmt: skip
    """Re-plan each pair (pair_a[i], pair_b[i]) jointly over all intervals given every other device.

    Catches swaps a single-device pass cannot make (one device must leave for the other to fit).
    Returns the objective gain.
    """
    T = x.shape[1]
    vals = np.empty((T, 4))
    value = np.empty((T + 1, 4))
    back = np.empty((T, 4), dtype=np.int64)
    gain = 0.0
    for i in range(pair_a.shape[0]):
        a, b = pair_a[i], pair_b[i]
        for t in range(T):
            _pair_values(a, b, t, x, load, count, fac, pool, w, hr, hashprice_dt, rate_dt, energy, cap, demand,
                         committed, bonus, tol, vals)  # fmt: skip
        start = int(initial_on[a]) | (int(initial_on[b]) << 1)
        value[0, :] = _NEG
        value[0, start] = 0.0
        old = 0.0
        prev = start
        for t in range(T):
            cur = int(x[a, t]) | (int(x[b, t]) << 1)
            old += (
                vals[t, cur] - restart[a] * ((cur & 1) > (prev & 1)) - restart[b] * ((cur >> 1) > (prev >> 1))
            )
            prev = cur
            for s in range(4):
                best, arg = -np.inf, 0
                for r in range(4):
                    v = value[t, r] - restart[a] * ((s & 1) > (r & 1)) - restart[b] * ((s >> 1) > (r >> 1))
                    if v > best:
                        best, arg = v, r
                value[t + 1, s] = best + vals[t, s]
                back[t, s] = arg
        s = int(np.argmax(value[T]))
        if value[T, s] <= old + 1e-9:
            continue
        gain += value[T, s] - old
        for t in range(T - 1, -1, -1):
            for j in range(2):
                d = pair_a[i] if j == 0 else pair_b[i]
                on = (s >> j) & 1
                delta = np.int64(on) - np.int64(x[d, t])
                if delta != 0:
                    load[fac[d], t] += delta * w[d]
                    if pool[d] >= 0:
                        count[pool[d], t] += delta
                    x[d, t] = on
            s = back[t, s]
    return gain
