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


@njit(cache=True)
def _device_margins(d, fac, pool, w, hr, hashprice_dt, rate_dt, energy, out):
    """Margin of device d in every interval into out[T].

    Margins are filled a row or a column at a time: a call per cell with all these arrays costs ~100 ns
    in reference counting, far more than the arithmetic.
    """
    f, k = fac[d], pool[d]
    for t in range(out.shape[0]):
        revenue = rate_dt[k, t] if k >= 0 else hr[d] * hashprice_dt[t]
        out[t] = revenue - w[d] * energy[f, t]


@njit(cache=True)
def _column_margins(t, fac, pool, w, hr, hashprice_dt, rate_dt, energy, out):
    """Margin of every device in interval t into out[D]."""
    for d in range(out.shape[0]):
        revenue = hr[d] * hashprice_dt[t]
        if pool[d] >= 0:
            revenue = rate_dt[pool[d], t]
        out[d] = revenue - w[d] * energy[fac[d], t]


@njit(cache=True)
def _schedule(vals, restart, initial_on, choice, out):
    """Best on/off path for one device: `vals[t]` earned when on, `restart` paid per switch-on; returns its value."""
    T = vals.shape[0]
    v_on = 0.0 if initial_on else _NEG
    v_off = _NEG if initial_on else 0.0
    for t in range(T):
        # written without branches: the comparisons are data dependent and mispredict often
        start = v_off - restart
        choice[t] = np.uint8(v_on >= start) | (np.uint8(v_on > v_off) << 1)  # prefer staying on / off on ties
        v_on, v_off = max(v_on, start) + vals[t], max(v_on, v_off)
    state = 1 if v_on > v_off else 0
    best = max(v_on, v_off)
    for t in range(T - 1, -1, -1):
        out[t] = state
        state = (choice[t] >> (1 - state)) & 1
    return best


@njit(cache=True)
def _chunk_totals(n_chunks, F, K, T):
    """Zeroed per-chunk (value, load [F, T], count [max(K, 1), T]) so parallel chunks never write the same cell.

    The count has a spare pool when K = 0 so that an ASIC can pass the empty slice count[c, 0, :0].
    """
    return np.zeros(n_chunks), np.zeros((n_chunks, F, T)), np.zeros((n_chunks, max(K, 1), T), np.int64)


@njit(cache=True)
def _add_usage(row, w, load, count, mult=1):
    """Add `mult` devices on path `row` to their facility's load (w kW each when on) and, for GPUs, the pool's count."""
    for t in range(row.shape[0]):
        load[t] += mult * w * row[t]
    for t in range(count.shape[0]):
        count[t] += mult * row[t]


@njit(cache=True)
def _relax_device(d, fac, pool, w, hr, restart, initial_on, hashprice_dt, rate_dt, energy, lam, pi, x, mult, vals,
                  choice, load, count):  # fmt: skip
    """Best path of device d (row of mult[d] identical devices) into x[d]; adds its usage, returns its value."""
    T = x.shape[1]
    f, k = fac[d], pool[d]
    _device_margins(d, fac, pool, w, hr, hashprice_dt, rate_dt, energy, vals)
    for t in range(T):
        vals[t] -= lam[f, t] * w[d]
    if k >= 0:
        for t in range(T):
            vals[t] += pi[k, t]
    value = mult[d] * _schedule(vals, restart[d], initial_on[d], choice, x[d])
    _add_usage(x[d], w[d], load[f], count[k] if k >= 0 else count[0, :0], mult[d])
    return value


@njit(cache=True, parallel=True)
def relax(fac, pool, w, hr, restart, initial_on, hashprice_dt, rate_dt, energy, lam, pi, x, chunk, mult):
    """Lagrangian subproblem: each device's best path at power price `lam` and pool price `pi`.

    Row d stands for mult[d] identical devices (1 for a plain device): they share one best path.
    Writes the paths to x and returns (sum of path values, facility load [F, T], pool count [K, T]).
    """
    D, T = x.shape
    n_chunks = (D + chunk - 1) // chunk
    values, loads, counts = _chunk_totals(n_chunks, lam.shape[0], pi.shape[0], T)
    for c in prange(n_chunks):
        vals = np.empty(T)
        choice = np.empty(T, dtype=np.uint8)
        for d in range(c * chunk, min(D, (c + 1) * chunk)):
            values[c] += _relax_device(d, fac, pool, w, hr, restart, initial_on, hashprice_dt, rate_dt, energy, lam,
                                       pi, x, mult, vals, choice, loads[c], counts[c])  # fmt: skip
    return values.sum(), loads.sum(axis=0), counts.sum(axis=0)[: rate_dt.shape[0]]


@njit(cache=True)
def relax_serial(
    fac, pool, w, hr, restart, initial_on, hashprice_dt, rate_dt, energy, lam, pi, x, chunk, mult
):
    """`relax` in the calling thread, for a few rows (classes of devices): no parallel region to start."""
    T = x.shape[1]
    values, loads, counts = _chunk_totals(1, lam.shape[0], pi.shape[0], T)
    vals = np.empty(T)
    choice = np.empty(T, dtype=np.uint8)
    for d in range(x.shape[0]):
        values[0] += _relax_device(d, fac, pool, w, hr, restart, initial_on, hashprice_dt, rate_dt, energy, lam, pi,
                                   x, mult, vals, choice, loads[0], counts[0])  # fmt: skip
    return values[0], loads[0], counts[0][: rate_dt.shape[0]]


@njit(cache=True, parallel=True)
def score(fac, pool, w, hr, restart, initial_on, hashprice_dt, rate_dt, energy, x, chunk):
    """(margins - restart costs of plan x, facility load [F, T], pool count [K, T]); penalties are added by the caller."""
    D, T = x.shape
    n_chunks = (D + chunk - 1) // chunk
    values, loads, counts = _chunk_totals(n_chunks, energy.shape[0], rate_dt.shape[0], T)
    for c in prange(n_chunks):
        m = np.empty(T)
        for d in range(c * chunk, min(D, (c + 1) * chunk)):
            f, k = fac[d], pool[d]
            _device_margins(d, fac, pool, w, hr, hashprice_dt, rate_dt, energy, m)
            before = initial_on[d]
            for t in range(T):
                if x[d, t]:
                    values[c] += m[t] - (0.0 if before else restart[d])
                before = x[d, t]
            _add_usage(x[d], w[d], loads[c, f], counts[c, k] if k >= 0 else counts[c, 0, :0])
    return values.sum(), loads.sum(axis=0), counts.sum(axis=0)[: rate_dt.shape[0]]


@njit(cache=True)
def _sift_down(key, idx, i, n):
    """Restore the min-heap order of key[:n] (idx moves along) below position i."""
    while True:
        child = 2 * i + 1
        if child >= n:
            return
        if child + 1 < n and key[child + 1] < key[child]:
            child += 1
        if key[i] <= key[child]:
            return
        key[i], key[child] = key[child], key[i]
        idx[i], idx[child] = idx[child], idx[i]
        i = child


@njit(cache=True)
def _heapify(key, idx, n):
    for i in range(n // 2 - 1, -1, -1):
        _sift_down(key, idx, i, n)


@njit(cache=True)
def _pop(key, idx, n):
    """Remove the smallest of the heap key[:n]; returns (its key, its idx). The heap then has n - 1 items."""
    top_key, top = key[0], idx[0]
    key[0], idx[0] = key[n - 1], idx[n - 1]
    _sift_down(key, idx, 0, n - 1)
    return top_key, top


@njit(cache=True, parallel=True)
def clearing_prices(fac_order, fac_start, pool, w, hr, hashprice_dt, rate_dt, energy, fac, cap, mult):
    """Per (facility, interval): the margin per kW of the marginal device when devices fill the cap best-first.

    Row d stands for mult[d] identical devices.

    A good start for the power multipliers: it ignores restarts and pools, which the subgradient then fixes.
    """
    F, T = cap.shape
    lam = np.zeros((F, T))
    for t in prange(T):
        m = np.empty(fac.shape[0])
        _column_margins(t, fac, pool, w, hr, hashprice_dt, rate_dt, energy, m)
        for f in range(F):
            members = fac_order[fac_start[f] : fac_start[f + 1]]
            key = np.empty(members.shape[0])
            idx = np.empty(members.shape[0], dtype=np.int64)
            n, total = 0, 0.0
            for d in members:
                if m[d] > 0 and w[d] > 0:
                    key[n], idx[n] = m[d] / w[d], d
                    total += w[d] * mult[d]
                    n += 1
            _heapify(key, idx, n)
            # drop the worst per kW until the rest fits: usually far fewer than the devices that stay
            while total > cap[f, t] and n > 0:
                ratio, d = _pop(key, idx, n)
                n -= 1
                total -= w[d] * mult[d]
                lam[f, t] = ratio
    return lam


@njit(cache=True)
def _column_values(x_before, x_after, restart, margin, out):
    """Gain of switching each device on at t with its neighbours fixed, into out[D]: a switch-on at t
    costs a restart unless it ran before; staying off at t costs one at t + 1 if it runs then."""
    for d in range(out.shape[0]):
        out[d] = margin[d] - restart[d] * (1 - x_before[d]) + restart[d] * x_after[d]


@njit(cache=True)
def _repair_column(t, xt, fac, pool, w, hr, restart, initial_on, hashprice_dt, rate_dt, energy, cap, demand,
                   committed, bonus, fac_order, fac_start, pool_order, pool_start, tol):  # fmt: skip
    """Make column t feasible: drop the least valuable GPUs over demand, then the lowest value per kW over
    the cap; then re-add the best devices that still fit. Heaps, not sorts: few devices move."""
    T, D = xt.shape
    F, K = cap.shape[0], demand.shape[0]
    load = np.zeros(F)
    count = np.zeros(K, dtype=np.int64)
    value = np.empty(D)
    key = np.empty(D)
    idx = np.empty(D, dtype=np.int64)
    margin = np.empty(D)
    _column_margins(t, fac, pool, w, hr, hashprice_dt, rate_dt, energy, margin)
    x_after = xt[t + 1] if t + 1 < T else np.zeros(D, dtype=np.uint8)
    _column_values(xt[t - 1] if t > 0 else initial_on, x_after, restart, margin, value)
    for d in range(D):
        load[fac[d]] += w[d] * xt[t, d]
        if pool[d] >= 0:
            count[pool[d]] += xt[t, d]
    for d in pool_order:  # a GPU serving towards the commitment also saves the penalty
        if count[pool[d]] <= committed[pool[d], t]:
            value[d] += bonus[pool[d]]
    for k in range(K):
        n = 0
        for d in pool_order[pool_start[k] : pool_start[k + 1]]:
            if xt[t, d]:
                key[n], idx[n] = value[d], d
                n += 1
        _heapify(key, idx, n)
        while count[k] > demand[k, t] and n > 0:
            _, d = _pop(key, idx, n)
            n -= 1
            xt[t, d] = 0
            count[k] -= 1
            load[fac[d]] -= w[d]
    for f in range(F):
        members = fac_order[fac_start[f] : fac_start[f + 1]]
        n = 0
        if load[f] > cap[f, t] + tol:
            for d in members:
                if xt[t, d] and w[d] > 0:
                    key[n], idx[n] = value[d] / w[d], d
                    n += 1
        _heapify(key, idx, n)
        while load[f] > cap[f, t] + tol and n > 0:
            _, d = _pop(key, idx, n)
            n -= 1
            xt[t, d] = 0
            load[f] -= w[d]
            if pool[d] >= 0:
                count[pool[d]] -= 1
        n = 0
        for d in members:
            if not xt[t, d] and value[d] > 0 and load[f] + w[d] <= cap[f, t] + tol:
                key[n], idx[n] = -value[d] / max(w[d], 1e-12), d
                n += 1
        _heapify(key, idx, n)
        while n > 0:
            _, d = _pop(key, idx, n)
            n -= 1
            k = pool[d]
            if load[f] + w[d] > cap[f, t] + tol or (k >= 0 and count[k] >= demand[k, t]):
                continue
            if k >= 0 and count[k] >= committed[k, t] and value[d] - bonus[k] <= 0:
                continue  # the bonus was earned by GPUs added before this one
            xt[t, d] = 1
            load[f] += w[d]
            if k >= 0:
                count[k] += 1


@njit(cache=True)
def repair(xt, fac, pool, w, hr, restart, initial_on, hashprice_dt, rate_dt, energy, cap, demand, committed,
           bonus, fac_order, fac_start, pool_order, pool_start, tol):  # fmt: skip
    """Turn plan xt (transposed: T x D, so a column is contiguous) into a feasible one in place.

    Columns go in time order so each sees its repaired predecessor: devices that were just dropped are
    the cheapest to keep off, which avoids needless restarts.
    """
    for t in range(xt.shape[0]):
        _repair_column(t, xt, fac, pool, w, hr, restart, initial_on, hashprice_dt, rate_dt, energy, cap, demand,
                       committed, bonus, fac_order, fac_start, pool_order, pool_start, tol)  # fmt: skip


@njit(cache=True)
def _polish_device(d, x, load, count, fac, pool, w, hr, restart, initial_on, hashprice_dt, rate_dt, energy,
                   cap, demand, committed, bonus, tol, vals, choice, row):  # fmt: skip
    """Re-plan device d's whole path given every other device; returns the objective gain (>= 0)."""
    T = x.shape[1]
    f, k = fac[d], pool[d]
    old = 0.0
    before = initial_on[d]
    _device_margins(d, fac, pool, w, hr, hashprice_dt, rate_dt, energy, vals)
    for t in range(T):
        on = x[d, t]
        m = vals[t]
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
    margin = np.empty(D)
    xt = np.ascontiguousarray(x.T)
    for t in range(T):
        _column_margins(t, fac, pool, w, hr, hashprice_dt, rate_dt, energy, margin)
        x_after = xt[t + 1] if t + 1 < T else np.zeros(D, dtype=np.uint8)
        _column_values(xt[t - 1] if t > 0 else initial_on, x_after, restart, margin, value)
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
                xt[t, d] = on
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
        margin = np.empty(T)
        _device_margins(d, fac, pool, w, hr, hashprice_dt, rate_dt, energy, margin)
        for t in range(T):
            if x[d, t]:
                continue
            m = margin[t]
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
def _pair_values(a, b, t, margin, x, load, count, fac, pool, w, cap, demand, committed, bonus, tol, vals):
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
                v += margin[i, t]
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
    margin = np.empty((2, T))
    gain = 0.0
    for i in range(pair_a.shape[0]):
        a, b = pair_a[i], pair_b[i]
        _device_margins(a, fac, pool, w, hr, hashprice_dt, rate_dt, energy, margin[0])
        _device_margins(b, fac, pool, w, hr, hashprice_dt, rate_dt, energy, margin[1])
        for t in range(T):
            _pair_values(
                a, b, t, margin, x, load, count, fac, pool, w, cap, demand, committed, bonus, tol, vals
            )
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


@njit(cache=True, parallel=True)
def pool_prices(pool_order, pool_start, fac, w, rate_dt, energy, lam, demand, committed, bonus, mult):
    """Per (pool, interval): the price that makes exactly the most valuable GPUs worth running, float64[K, T].

    Negative to hold the count to demand, up to the penalty rate to reach the commitment, else 0: the
    start of the pool multipliers, given the power prices `lam`. Row d stands for mult[d] identical GPUs.
    """
    K, T = demand.shape
    pi = np.zeros((K, T))
    for t in prange(T):
        for k in range(K):
            members = pool_order[pool_start[k] : pool_start[k + 1]]
            n = members.shape[0]
            if n == 0:
                continue
            value = np.empty(n)
            for i in range(n):
                d = members[i]
                value[i] = -(rate_dt[k, t] - w[d] * (energy[fac[d], t] + lam[fac[d], t]))
            order = np.argsort(value)  # negated: best first
            # cumulative GPUs up to each sorted row: the GPU at position p belongs to the first row past p
            upto = np.cumsum(mult[members[order]])
            positive = np.sum(mult[members] * (value < 0))
            if positive > demand[k, t]:
                i = np.searchsorted(upto, demand[k, t], side="right")
                pi[k, t] = value[order[i]]  # minus the first GPU that must stay off
            elif positive < committed[k, t]:
                i = min(np.searchsorted(upto, committed[k, t] - 1, side="right"), n - 1)
                pi[k, t] = min(bonus[k], value[order[i]])
    return pi


@njit(cache=True)
def _take(c, t, want, fac, pool, w, cap, demand, limit, load, count, tol):
    """How many of `want` devices of class c fit at t under the cap and the pool limit; books them."""
    f, k = fac[c], pool[c]
    take = want
    if w[c] > 0:
        room = max(cap[f, t] + tol - load[f], 0.0)
        take = np.int64(min(float(take), np.floor(room / w[c])))
        while take > 0 and load[f] + take * w[c] > cap[f, t] + tol:
            take -= 1  # round-off of the division
    if k >= 0:
        take = min(take, max(limit - count[k], 0))
    if take <= 0:
        return 0
    load[f] += take * w[c]
    if k >= 0:
        count[k] += take
    return take


@njit(cache=True)
def repair_counts(r, base, mult, fac, pool, w, hr, restart, initial_on, hashprice_dt, rate_dt, energy, cap, demand,
                  committed, bonus, tol):  # fmt: skip
    """Feasible counts n[C, T] of running devices per class of mult[c] identical devices, interval by interval.

    First the counts `base` (e.g. a rounded LP solution) as far as they fit; then each class offers its
    devices that ran at t - 1 (no restart) and the rest (restart paid), each valued with a look-ahead to
    the relaxed path r[C, T] (staying off costs a restart later if it runs at t + 1). GPUs fill their
    pools' commitments first (value plus penalty saved), then every offer goes in by value per kW while
    the cap and the demand allow: integer greedy filling, at most one device of room lost per offer.
    """
    C, T = r.shape
    F, K = cap.shape[0], demand.shape[0]
    n = np.zeros((C, T), dtype=np.int64)
    margin = np.empty(C)
    value = np.empty(2 * C)
    units = np.empty(2 * C, dtype=np.int64)
    key = np.empty(2 * C)
    for t in range(T):
        _column_margins(t, fac, pool, w, hr, hashprice_dt, rate_dt, energy, margin)
        load = np.zeros(F)
        count = np.zeros(K, dtype=np.int64)
        for c in range(C):
            before = n[c, t - 1] if t > 0 else mult[c] * initial_on[c]
            ahead = restart[c] * r[c, t + 1] if t + 1 < T else 0.0
            value[2 * c], units[2 * c] = margin[c] + ahead, before
            value[2 * c + 1], units[2 * c + 1] = margin[c] - restart[c] + ahead, mult[c] - before
        for c in range(C):  # the base counts, devices that ran before first
            k = pool[c]
            limit = demand[k, t] if k >= 0 else 0
            kept = _take(
                c, t, min(base[c, t], units[2 * c]), fac, pool, w, cap, demand, limit, load, count, tol
            )
            started = _take(c, t, min(base[c, t] - kept, units[2 * c + 1]), fac, pool, w, cap, demand, limit, load,
                            count, tol)  # fmt: skip
            units[2 * c] -= kept
            units[2 * c + 1] -= started
            n[c, t] += kept + started
        for phase in range(2):  # 0: GPUs up to the commitment, 1: everything up to cap and demand
            for s in range(2 * C):
                c = s // 2
                v = value[s] + (bonus[pool[c]] if phase == 0 and pool[c] >= 0 else 0.0)
                wanted = units[s] > 0 and v > 0 and (phase == 1 or pool[c] >= 0)
                key[s] = -v / max(w[c], 1e-12) if wanted else np.inf
            for s in np.argsort(key):
                if key[s] == np.inf:
                    break
                c, k = s // 2, pool[s // 2]
                limit = 0 if k < 0 else (demand[k, t] if phase == 1 else min(demand[k, t], committed[k, t]))
                take = _take(c, t, units[s], fac, pool, w, cap, demand, limit, load, count, tol)
                n[c, t] += take
                units[s] -= take
    return n


@njit(cache=True, parallel=True)
def expand_counts(cls, rank, counts, off_reason):
    """(plan uint8[D, T], reasons int8[D, T]): device d runs at t when it is among the first counts[cls[d], t]
    of its class; an off device takes its class's off_reason."""
    D, T = cls.shape[0], counts.shape[1]
    x = np.empty((D, T), dtype=np.uint8)
    reason = np.empty((D, T), dtype=np.int8)
    for d in prange(D):
        c = cls[d]
        for t in range(T):
            on = rank[d] < counts[c, t]
            x[d, t] = on
            reason[d, t] = RUNNING if on else off_reason[c, t]
    return x, reason


@njit(cache=True)
def _mix(h, v):
    """Fold 64 bits v into hash h (splitmix64 finaliser)."""
    h ^= v + np.uint64(0x9E3779B97F4A7C15) + (h << np.uint64(6)) + (h >> np.uint64(2))
    h ^= h >> np.uint64(30)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(27)
    return h


@njit(cache=True)
def device_classes(fac, pool, power, hr, restart, initial_on):
    """(cls, rank, first member, size) of the classes of devices identical in all six fields.

    power, hr and restart come as the bits of the float64 arrays (uint64 views): identical means bit-identical.

    Rows are sorted by a hash and split where neighbours differ: a hash collision can only split a class
    in two, which keeps every class exact.
    """
    D = fac.shape[0]
    key = np.empty(D, dtype=np.uint64)
    for d in range(D):
        h = np.uint64(fac[d] + 1)
        h = _mix(h, np.uint64(pool[d] + 2))
        h = _mix(h, power[d])
        h = _mix(h, hr[d])
        h = _mix(h, restart[d])
        key[d] = _mix(h, np.uint64(initial_on[d]))
    order = np.argsort(key, kind="mergesort")
    cls = np.empty(D, dtype=np.int64)
    rank = np.empty(D, dtype=np.int64)
    first = np.empty(D, dtype=np.int64)
    size = np.zeros(D, dtype=np.int64)
    c, e = -1, 0
    for i in range(D):
        d = order[i]
        if i == 0 or not (
            fac[d] == fac[e] and pool[d] == pool[e] and power[d] == power[e] and hr[d] == hr[e]
            and restart[d] == restart[e] and initial_on[d] == initial_on[e]
        ):  # fmt: skip
            c += 1
            first[c] = d
        cls[d] = c
        rank[d] = size[c]
        size[c] += 1
        e = d
    return cls, rank, first[: c + 1], size[: c + 1]
