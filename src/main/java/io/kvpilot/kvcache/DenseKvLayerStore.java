package io.kvpilot.kvcache;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * Full-precision store: K and V each in one {@code [K, capacity, D]} fp32 tensor, capacity a whole number of pool
 * blocks, grown by one copy when full (once every {@link KvBlockPool#BLOCK_TOKENS} decode steps at most). After a
 * ragged {@link #retain} the heads hold different counts; the padding is masked with −∞ for libtorch and described by
 * {@link #padding()} for attention that reads the buffers in place, and is never read as a value.
 */
public final class DenseKvLayerStore implements KvLayerStore {

    private final KvBlockPool pool;
    private final NDManager manager;
    private final int kvHeads;
    private final int headDim;
    private NDArray keys; // [K, cap, D]
    private NDArray values; // [K, cap, D]
    private NDArray mask; // [K, 1, cap] additive, only while ragged
    private HeadPadding padding; // what the mask hides, only while ragged
    private ByteBuffer[] views; // of keys and values, made on first use and dropped when they are replaced
    private int capacity;
    private int length;
    private boolean closed;

    /** @param manager the sequence's cache manager; tensors of this store live in it */
    public DenseKvLayerStore(KvBlockPool pool, NDManager manager, int kvHeads, int headDim, int initialTokens) {
        this.pool = pool;
        this.manager = manager;
        this.kvHeads = kvHeads;
        this.headDim = headDim;
        this.capacity = KvBlockPool.roundUpToBlocks(initialTokens);
        this.keys = pool.allocate(manager, new Shape(kvHeads, capacity, headDim), DataType.FLOAT32);
        this.values = pool.allocate(manager, new Shape(kvHeads, capacity, headDim), DataType.FLOAT32);
    }

    @Override
    public int length() {
        return length;
    }

    public int capacity() {
        return capacity;
    }

    @Override
    public void append(NDArray newKeys, NDArray newValues) {
        int t = Math.toIntExact(newKeys.getShape().get(1));
        ensureCapacity(length + t);
        NDIndex slot = new NDIndex().addAllDim().addSliceDim(length, length + t);
        keys.set(slot, newKeys);
        values.set(slot, newValues);
        length += t; // new slots of a ragged store are unmasked: the mask tensor was zero there
    }

    @Override
    public void reserve(int entries) {
        ensureCapacity(length + entries);
    }

    /**
     * For attention that works on the cache's memory directly: room for {@code entries} more, then the whole K and V
     * buffers ({@code [K, capacity, D]} fp32, contiguous, native byte order) as views, no copy. The caller writes the
     * new entries from slot {@link #length()} of each head on and then calls {@link #appended(int)}; the array is the
     * store's own, not to be changed. While the store is ragged the reader skips {@link #padding()}.
     */
    public ByteBuffer[] slotViewsFor(int entries) {
        ensureCapacity(length + entries);
        if (views == null) { // a view stays valid as long as its tensor: until the next grow or compaction
            views = new ByteBuffer[] {keys.toByteBuffer(true), values.toByteBuffer(true)};
        }
        return views;
    }

    /** Whether heads hold different counts (after a ragged {@link #retain}), so reads need the mask. */
    public boolean ragged() {
        return mask != null;
    }

    @Override
    public HeadPadding padding() {
        return padding;
    }

    /** The {@code entries} written through {@link #slotViewsFor} are now held. */
    public void appended(int entries) {
        if (entries < 0 || length + entries > capacity) {
            throw new IllegalArgumentException(entries + " entries do not fit: " + length + " of " + capacity + " held");
        }
        length += entries;
    }

    public int headDim() {
        return headDim;
    }

    @Override
    public NDArray keys(NDManager step) {
        return keys.get(step, new NDIndex().addAllDim().addSliceDim(0, length));
    }

    @Override
    public NDArray values(NDManager step) {
        return values.get(step, new NDIndex().addAllDim().addSliceDim(0, length));
    }

    @Override
    public NDArray attentionMask(NDManager step) {
        return mask == null ? null : mask.get(step, new NDIndex().addAllDim(2).addSliceDim(0, length));
    }

    @Override
    public void retain(int[][] keep) {
        if (keep.length != kvHeads) {
            throw new IllegalArgumentException("retain needs one index list per KV head: " + kvHeads + ", got " + keep.length);
        }
        int kept = 0;
        int shortest = Integer.MAX_VALUE;
        for (int[] head : keep) {
            kept = Math.max(kept, head.length);
            shortest = Math.min(shortest, head.length);
        }
        // flat row indices into keys viewed as [K*cap, D]; shorter heads are padded with their slot 0 (masked below)
        long[] rows = new long[kvHeads * kept];
        for (int h = 0; h < kvHeads; h++) {
            int[] sorted = keep[h].clone();
            Arrays.sort(sorted);
            for (int i = 0; i < kept; i++) {
                int slot = i < sorted.length ? sorted[i] : 0;
                if (slot < 0 || slot >= length || (i > 0 && i < sorted.length && slot == sorted[i - 1])) {
                    throw new IllegalArgumentException("bad or repeated index " + slot + " for head " + h + " (length " + length + ")");
                }
                rows[h * kept + i] = (long) h * capacity + slot;
            }
        }
        int newCapacity = KvBlockPool.roundUpToBlocks(kept);
        try (NDManager scratch = manager.newSubManager()) {
            NDArray index = scratch.create(rows);
            NDArray newKeys = compact(keys, index, kept, newCapacity, scratch);
            NDArray newValues = compact(values, index, kept, newCapacity, scratch);
            pool.free(keys);
            pool.free(values);
            pool.free(mask);
            keys = newKeys;
            values = newValues;
            views = null;
            mask = null;
            padding = null;
            if (shortest != kept) {
                float[] m = new float[kvHeads * newCapacity];
                int[] from = new int[kvHeads];
                for (int h = 0; h < kvHeads; h++) {
                    Arrays.fill(m, h * newCapacity + keep[h].length, h * newCapacity + kept, Float.NEGATIVE_INFINITY);
                    from[h] = keep[h].length;
                }
                mask = pool.allocate(manager, new Shape(kvHeads, 1, newCapacity), DataType.FLOAT32);
                mask.set(m);
                padding = new HeadPadding(from, kept);
            }
        }
        capacity = newCapacity;
        length = kept;
    }

    private NDArray compact(NDArray source, NDArray rows, int kept, int newCapacity, NDManager scratch) {
        NDArray flat = source.reshape(kvHeads * (long) capacity, headDim); // view
        flat.attach(scratch);
        NDArray picked = flat.get(scratch, new NDIndex("{}", rows)).reshape(kvHeads, kept, headDim); // [K, kept, D]
        NDArray target = pool.allocate(manager, new Shape(kvHeads, newCapacity, headDim), DataType.FLOAT32);
        target.set(new NDIndex().addAllDim().addSliceDim(0, kept), picked);
        return target;
    }

    private void ensureCapacity(int tokens) {
        if (tokens <= capacity) {
            return;
        }
        int newCapacity = KvBlockPool.roundUpToBlocks(tokens);
        keys = grow(keys, new Shape(kvHeads, newCapacity, headDim), 1);
        values = grow(values, new Shape(kvHeads, newCapacity, headDim), 1);
        views = null;
        if (mask != null) {
            mask = grow(mask, new Shape(kvHeads, 1, newCapacity), 2);
        }
        capacity = newCapacity;
    }

    private NDArray grow(NDArray old, Shape shape, int axis) {
        NDArray bigger = pool.allocate(manager, shape, DataType.FLOAT32);
        NDIndex held = new NDIndex().addAllDim(axis).addSliceDim(0, length);
        try (NDManager scratch = manager.newSubManager()) {
            bigger.set(held, old.get(scratch, held));
        }
        pool.free(old);
        return bigger;
    }

    @Override
    public long bytes() {
        if (closed) {
            return 0;
        }
        long bytes = KvBlockPool.bytesOf(keys) + KvBlockPool.bytesOf(values);
        return mask == null ? bytes : bytes + KvBlockPool.bytesOf(mask);
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        pool.free(keys);
        pool.free(values);
        pool.free(mask);
        keys = values = mask = null;
        views = null;
        padding = null;
    }
}
