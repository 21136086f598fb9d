package io.kvpilot.serving;

import io.kvpilot.kvcache.KvBlockPool;
import io.kvpilot.kvcache.KvCompressionSpec;
import io.kvpilot.kvcache.press.KvFootprint;
import java.util.function.LongSupplier;

/**
 * {@link FakeEngine}'s KV cache: it holds bytes the way the real engine does, with {@link FakeEngine#KV_BYTES_PER_TOKEN}
 * per dense entry. The prompt's cache is dense, {@code prompt + 1} entries rounded up to whole 32-token blocks; after
 * prefill it is compacted to {@code floor(prompt (1 - ratio))} entries (the new block allocated before the old one is
 * freed) and quantized to {@code bits / 16} of the bytes per entry (no block rounding); each generated token adds an
 * entry (a dense cache grows a block at a time, copying); every {@link #DECODE_INTERVAL} decode steps an evicting
 * cache goes back to {@code floor(positions (1 - ratio))} entries. So a short prompt with a long answer holds what the
 * real engine would, and a scheduler that reserved less than that would see its pool refuse an allocation.
 */
final class FakeKvCache {

    static final int DECODE_INTERVAL = 32;

    /** The fake's pool: one hard budget for all sequences, peak tracked. */
    static final class Pool {
        private final LongSupplier budget;
        private long used;
        private long peak;

        Pool(LongSupplier budget) {
            this.budget = budget;
        }

        synchronized boolean allocate(long bytes) {
            if (used + bytes > budget.getAsLong()) {
                return false;
            }
            used += bytes;
            peak = Math.max(peak, used);
            return true;
        }

        synchronized void free(long bytes) {
            used -= bytes;
        }

        synchronized long used() {
            return used;
        }

        synchronized long peak() {
            return peak;
        }
    }

    private final Pool pool;
    private final double ratio;
    private final int bits;
    private final int interval;
    private int entries;
    private int capacity; // dense only
    private int positions;
    private int decodeSteps;
    private long held;
    private long peak;
    private boolean freed;

    FakeKvCache(Pool pool, KvCompressionSpec spec, int interval) {
        this.pool = pool;
        this.ratio = spec.ratio();
        this.bits = spec.bits();
        this.interval = interval;
    }

    /** What the fake engine predicts: the same cache run on an unlimited pool for all of {@code maxTokens}. */
    static KvFootprint replay(KvCompressionSpec spec, int prompt, int maxTokens) {
        FakeKvCache c = new FakeKvCache(new Pool(() -> Long.MAX_VALUE), spec, DECODE_INTERVAL);
        c.prefill(prompt);
        for (int step = 1; step < maxTokens; step++) {
            c.decodeStep();
            if (step < maxTokens - 1) {
                c.boundIfDue();
            }
        }
        return new KvFootprint(c.peak, c.held, true);
    }

    /** The prompt's entries, then compaction and quantization; false when the pool refused. */
    boolean prefill(int prompt) {
        capacity = KvBlockPool.roundUpToBlocks(prompt + 1);
        if (!take(dense(capacity))) {
            return false;
        }
        entries = prompt;
        positions = prompt;
        if (!compact(keep(prompt))) {
            return false;
        }
        if (bits < 16) {
            long dense = dense(capacity);
            if (!take(quantized(entries))) {
                return false;
            }
            give(dense);
        }
        return true;
    }

    /** One generated token's entry; false when the pool refused. */
    boolean decodeStep() {
        if (bits == 16 && entries + 1 > capacity) {
            int grown = KvBlockPool.roundUpToBlocks(entries + 1);
            if (!take(dense(grown))) {
                return false;
            }
            give(dense(capacity));
            capacity = grown;
        } else if (bits < 16 && !take(quantized(1))) {
            return false;
        }
        entries++;
        positions++;
        decodeSteps++;
        return true;
    }

    /** Bounded decoding, when due; false when the pool refused. */
    boolean boundIfDue() {
        return ratio == 0 || decodeSteps % interval != 0 || compact(keep(positions));
    }

    private boolean compact(int keep) {
        if (keep >= entries) {
            return true;
        }
        if (bits < 16) {
            give(quantized(entries) - quantized(keep));
        } else {
            int newCapacity = KvBlockPool.roundUpToBlocks(keep);
            if (!take(dense(newCapacity))) {
                return false;
            }
            give(dense(capacity));
            capacity = newCapacity;
        }
        entries = keep;
        return true;
    }

    private int keep(int tokens) {
        return ratio == 0 ? tokens : Math.max(1, (int) Math.floor(tokens * (1.0 - ratio) + 1e-9));
    }

    private static long dense(int capacity) {
        return (long) capacity * FakeEngine.KV_BYTES_PER_TOKEN;
    }

    private long quantized(int count) {
        return (long) count * FakeEngine.KV_BYTES_PER_TOKEN * bits / 16;
    }

    private boolean take(long bytes) {
        if (!pool.allocate(bytes)) {
            return false;
        }
        held += bytes;
        peak = Math.max(peak, held);
        return true;
    }

    private void give(long bytes) {
        pool.free(bytes);
        held -= bytes;
    }

    long held() {
        return held;
    }

    int entries() {
        return entries;
    }

    long peak() {
        return peak;
    }

    /** Returns every byte to the pool; idempotent. */
    void free() {
        if (!freed) {
            freed = true;
            pool.free(held);
            held = 0;
        }
    }
}
