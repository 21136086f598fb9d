package io.kvpilot.kvcache;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The one allocator of KV storage. Every K/V tensor a cache keeps is allocated and freed here, so {@link #bytesInUse()}
 * is exact by construction: the sum of {@code size × bytes per element} over the tensors alive now.
 *
 * <p>Storage is handed out in whole blocks of {@link #BLOCK_TOKENS} tokens (a layer store's capacity is always a
 * multiple of it), which bounds the slack of a growing sequence to one block per layer. The budget is enforced here:
 * an allocation that would pass it fails with {@link KvBudgetExceededException} before any native memory is taken.
 *
 * <p>A sequence's cache allocates through its own {@link #account()}: a view of this pool that counts the sequence's
 * bytes and their peak (copies made while compacting included) and charges every byte to this pool and its budget,
 * so the peak a sequence really reached can be compared with the one admission predicted.
 *
 * <p>Allocation and freeing happen on the engine thread; the counters may be read from any thread (telemetry).
 */
public final class KvBlockPool {

    /** Tokens per allocation block. */
    public static final int BLOCK_TOKENS = 32;

    private final long budgetBytes;
    private final KvBlockPool parent;
    private final AtomicLong bytesInUse = new AtomicLong();
    private final AtomicLong peakBytes = new AtomicLong();
    private final AtomicLong peakSinceMark = new AtomicLong(-1); // -1: not marked yet

    /** @param budgetBytes the most bytes live at once; {@code Long.MAX_VALUE} for no limit */
    public KvBlockPool(long budgetBytes) {
        this(budgetBytes, null);
    }

    private KvBlockPool(long budgetBytes, KvBlockPool parent) {
        if (budgetBytes <= 0) {
            throw new IllegalArgumentException("KV budget must be positive, got " + budgetBytes);
        }
        this.budgetBytes = budgetBytes;
        this.parent = parent;
    }

    /** A per-sequence account: its own counters and peak, every byte also charged to this pool (and its budget). */
    public KvBlockPool account() {
        return new KvBlockPool(budgetBytes, this);
    }

    public long budgetBytes() {
        return budgetBytes;
    }

    public long bytesInUse() {
        return bytesInUse.get();
    }

    public long peakBytesInUse() {
        return peakBytes.get();
    }

    /** Starts a second peak from what is in use now (the engine marks a sequence's account once it is prefilled). */
    public void markPeak() {
        peakSinceMark.set(bytesInUse.get());
    }

    /** The most bytes in use at once since {@link #markPeak}; -1 before any mark. */
    public long peakBytesSinceMark() {
        return peakSinceMark.get();
    }

    /** Bytes the shared budget has left (of the whole pool, also when asked of an account). */
    public long bytesFree() {
        return parent != null ? parent.bytesFree() : budgetBytes - bytesInUse.get();
    }

    /** Rounds a token count up to whole blocks. */
    public static int roundUpToBlocks(int tokens) {
        return Math.max(BLOCK_TOKENS, (tokens + BLOCK_TOKENS - 1) / BLOCK_TOKENS * BLOCK_TOKENS);
    }

    /** A zero-filled tensor owned by {@code owner}, counted against the budget until {@link #free} is called. */
    public NDArray allocate(NDManager owner, Shape shape, DataType type) {
        long bytes = shape.size() * type.getNumOfBytes();
        reserve(bytes);
        try {
            return owner.zeros(shape, type);
        } catch (RuntimeException e) {
            release(bytes);
            throw e;
        }
    }

    /** Counts a tensor made elsewhere (e.g. by a gather during compaction) against the budget; it now belongs here. */
    public NDArray adopt(NDArray array) {
        reserve(bytesOf(array));
        return array;
    }

    /** Closes {@code array} and returns its bytes; null is ignored. */
    public void free(NDArray array) {
        if (array == null) {
            return;
        }
        long bytes = bytesOf(array);
        array.close();
        release(bytes);
    }

    private void release(long bytes) {
        long left = bytesInUse.addAndGet(-bytes);
        if (left < 0) {
            throw new IllegalStateException("KV pool accounting went negative: " + left);
        }
        if (parent != null) {
            parent.release(bytes);
        }
    }

    public static long bytesOf(NDArray array) {
        return array.size() * array.getDataType().getNumOfBytes();
    }

    private void reserve(long bytes) {
        if (parent != null) {
            parent.reserve(bytes); // the shared budget decides; throws before this account changes
        }
        long now = bytesInUse.addAndGet(bytes);
        if (parent == null && now > budgetBytes) {
            bytesInUse.addAndGet(-bytes);
            throw new KvBudgetExceededException(bytes, now - bytes, budgetBytes);
        }
        peakBytes.accumulateAndGet(now, Math::max);
        peakSinceMark.accumulateAndGet(now, (mark, v) -> mark < 0 ? mark : Math.max(mark, v));
    }
}
