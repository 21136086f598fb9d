package io.kvpilot.kvcache.quant;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import io.kvpilot.kvcache.HeadPadding;
import io.kvpilot.kvcache.KvBlockPool;
import io.kvpilot.kvcache.KvLayerStore;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * What every non-dense store shares: its tensors are counted in the {@link KvBlockPool} (adopted when made, freed when
 * replaced), and a ragged cache's additive padding mask {@code [K, 1, n]} follows appends and compactions, with the
 * {@link HeadPadding} it describes for kernels that read the store in place. Entries sit in buffers of
 * {@link #capacity()} entries per head (head {@code h}'s first at {@code h·capacity}) that grow geometrically
 * ({@link #grownCapacity}); the held tensors are exposed, in {@link #held()} order, as native-order {@link #views()}.
 */
public abstract class QuantizedStore implements KvLayerStore {

    protected final KvBlockPool pool;
    protected final NDManager manager;
    protected final int heads; // K
    protected final int dim; // D
    private final int growthUnit; // entries per head the buffers grow by a whole number of
    protected NDArray mask; // [K, 1, n], null unless heads hold different counts
    private HeadPadding padding; // what the mask hides; null without a mask (or one of another form)
    private int capacity;
    private ByteBuffer[] views; // of held(); dropped whenever the tensors are replaced
    private boolean closed;

    /**
     * @param keys the first entries {@code [K, n, D]}, for the store's shape
     * @param growthUnit entries per head the buffers grow by a whole number of
     */
    protected QuantizedStore(KvBlockPool pool, NDManager manager, NDArray keys, NDArray mask, int growthUnit) {
        this.pool = pool;
        this.manager = manager;
        this.heads = Math.toIntExact(keys.getShape().get(0));
        this.dim = Math.toIntExact(keys.getShape().get(2));
        this.growthUnit = growthUnit;
        this.mask = mask == null ? null : own(Scoped.run(manager, s -> mask.duplicate(), mask));
        if (mask != null) { // a compacted dense store's mask: its padding, read once
            Shape s = mask.getShape();
            padding = HeadPadding.of(mask.toFloatArray(), Math.toIntExact(s.get(0)), Math.toIntExact(s.get(2)));
        }
    }

    /** Entries per head the capacity buffers have room for. */
    public final int capacity() {
        return capacity;
    }

    public final int headDim() {
        return dim;
    }

    /** The held tensors as native-order views, in {@link #held()} order (for an {@link InPlaceKvStore}). */
    public final ByteBuffer[] views() {
        if (views == null) {
            NDArray[] held = held();
            views = new ByteBuffer[held.length];
            for (int i = 0; i < held.length; i++) {
                views[i] = view(held[i]);
            }
        }
        return views;
    }

    /** Whether heads hold different counts (a ragged compaction), so reads need the padding mask. */
    public final boolean ragged() {
        return mask != null;
    }

    /** Records that the buffers are now ones of {@code capacity} entries per head, so the views are stale. */
    protected final void replacedBuffers(int capacity) {
        this.capacity = capacity;
        views = null;
    }

    /** Grows the buffers ({@link #regrowTo}) if they have no room for {@code needed} entries per head. */
    protected final void ensureCapacity(int needed) {
        int grown = grownCapacity(capacity, needed, growthUnit);
        if (grown != capacity) {
            regrowTo(grown);
            replacedBuffers(grown);
        }
    }

    /** Replaces each buffer by one of {@code grown} entries per head holding the same entries ({@link #regrow}). */
    protected abstract void regrowTo(int grown);

    @Override
    public HeadPadding padding() {
        return padding;
    }

    /**
     * The capacity (entries per head) a store holding {@code capacity} grows to when it needs {@code needed}: at least
     * an eighth more, in whole {@code unit}s — geometric, so appends copy each entry a bounded number of times (about
     * eight), with at most an eighth of the store unused. Also what {@code KvFootprint} replays.
     */
    public static int grownCapacity(int capacity, int needed, int unit) {
        if (needed <= capacity) {
            return capacity;
        }
        int wanted = Math.max(needed, capacity + Math.max(unit, capacity / 8));
        return (wanted + unit - 1) / unit * unit;
    }

    /** A pool-counted zero tensor of this store. */
    protected final NDArray allocate(Shape shape, ai.djl.ndarray.types.DataType type) {
        return pool.allocate(manager, shape, type);
    }

    /** {@code a}'s memory as a native-order view (no copy), valid while {@code a} lives. */
    private static ByteBuffer view(NDArray a) {
        return a.toByteBuffer(true).order(ByteOrder.nativeOrder());
    }

    /**
     * A tensor of {@code newShape} (first axis heads, second axis entries) holding {@code from}'s first {@code rows}
     * entries of each head; {@code from} is freed after its copy exists (so for a moment both are counted).
     */
    protected final NDArray regrow(NDArray from, Shape newShape, int rows) {
        NDArray to = allocate(newShape, from.getDataType());
        long heads = from.getShape().get(0);
        long oldRowsPerHead = from.getShape().get(1);
        long bytesPerRow = from.getShape().size() / heads / oldRowsPerHead * from.getDataType().getNumOfBytes();
        long newRowsPerHead = newShape.get(1);
        ByteBuffer src = view(from);
        ByteBuffer dst = view(to);
        for (int h = 0; h < heads; h++) {
            int length = Math.toIntExact(rows * bytesPerRow);
            dst.put(Math.toIntExact(h * newRowsPerHead * bytesPerRow), src,
                    Math.toIntExact(h * oldRowsPerHead * bytesPerRow), length);
        }
        pool.free(from);
        return to;
    }

    /** Counts a tensor this store made against the pool. */
    protected final NDArray own(NDArray a) {
        return a == null ? null : pool.adopt(a);
    }

    /** Frees {@code old}, adopts and returns {@code replacement}. */
    protected final NDArray swap(NDArray old, NDArray replacement) {
        pool.free(old);
        return own(replacement);
    }

    /** Concatenates {@code added} (made by this store, not yet adopted) after {@code held} along {@code axis}. */
    protected final NDArray join(NDArray held, NDArray added, int axis) {
        if (held == null) {
            return own(added);
        }
        NDArray out = Scoped.run(manager, s -> held.concat(added, axis), held, added);
        added.close();
        return swap(held, out);
    }

    /** Extends the padding mask by {@code n} visible slots. */
    protected final void extendMask(long n) {
        if (mask != null) {
            NDArray zeros = manager.zeros(new Shape(mask.getShape().get(0), 1, n));
            mask = join(mask, zeros, 2);
        }
    }

    @Override
    public NDArray attentionMask(NDManager step) {
        return mask == null ? null : mask.get(step, new NDIndex());
    }

    /** The held tensors, for byte counting and freeing. */
    protected abstract NDArray[] held();

    /** Forgets the held tensors after {@link #close()} freed them. */
    protected abstract void clear();

    @Override
    public long bytes() {
        if (closed) {
            return 0;
        }
        long b = mask == null ? 0 : KvBlockPool.bytesOf(mask);
        for (NDArray a : held()) {
            b += a == null ? 0 : KvBlockPool.bytesOf(a);
        }
        return b;
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (NDArray a : held()) {
            pool.free(a);
        }
        pool.free(mask);
        mask = null;
        padding = null;
        views = null;
        clear();
    }

    /**
     * Index of a {@link #retain}: per head the sorted kept slots, shorter heads padded with their first slot, plus the
     * new padding mask and what it hides (null when all heads keep the same count).
     */
    protected record Selection(long[] index, int kept, float[] mask, HeadPadding padding) {

        public static Selection of(int[][] keep, int length) {
            int heads = keep.length;
            int kept = 0;
            for (int[] h : keep) {
                kept = Math.max(kept, h.length);
            }
            long[] idx = new long[heads * kept];
            float[] m = null;
            int[] from = new int[heads];
            for (int h = 0; h < heads; h++) {
                from[h] = keep[h].length;
                int[] sorted = keep[h].clone();
                java.util.Arrays.sort(sorted);
                for (int i = 0; i < kept; i++) {
                    boolean pad = i >= sorted.length;
                    int slot = pad ? (sorted.length > 0 ? sorted[0] : 0) : sorted[i];
                    if (slot < 0 || slot >= length || (!pad && i > 0 && slot == sorted[i - 1])) {
                        throw new IllegalArgumentException("bad or repeated index " + slot + " for head " + h);
                    }
                    idx[h * kept + i] = slot;
                    if (pad) {
                        if (m == null) {
                            m = new float[heads * kept];
                        }
                        m[h * kept + i] = Float.NEGATIVE_INFINITY;
                    }
                }
            }
            return new Selection(idx, kept, m, m == null ? null : new HeadPadding(from, kept));
        }
    }

    /**
     * A tensor of {@code shape} (heads, entries, row) holding the selected entries of {@code from}, whose heads are
     * {@code fromCapacity} entries apart, in order; {@code from} is freed after its copy exists.
     */
    protected final NDArray gatherRows(NDArray from, int fromCapacity, Selection sel, Shape shape) {
        NDArray to = allocate(shape, from.getDataType());
        int heads = Math.toIntExact(shape.get(0));
        int rowBytes = Math.toIntExact(from.getShape().get(2) * from.getDataType().getNumOfBytes());
        ByteBuffer src = view(from);
        ByteBuffer dst = view(to);
        for (int kh = 0; kh < heads; kh++) {
            for (int i = 0; i < sel.kept(); i++) {
                int slot = (int) sel.index()[kh * sel.kept() + i];
                dst.put((kh * (int) shape.get(1) + i) * rowBytes, src, (kh * fromCapacity + slot) * rowBytes, rowBytes);
            }
        }
        pool.free(from);
        return to;
    }

    /** Replaces the padding mask after a {@link #retain}. */
    protected final void resetMask(Selection sel, int heads) {
        pool.free(mask);
        mask = sel.mask() == null ? null : own(manager.create(sel.mask(), new Shape(heads, 1, sel.kept())));
        padding = sel.padding();
    }
}
