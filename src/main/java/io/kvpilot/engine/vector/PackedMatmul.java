package io.kvpilot.engine.vector;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.kvpilot.engine.ForwardRoute;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Decode's weight products ({@code x·Wᵀ} for 1–{@value #MAX_ROWS} rows) in Java ({@link VectorSgemm}, the Vector API),
 * on weights packed once at load time into panels of 16 output columns. libtorch's MKL packs the whole weight into
 * its own layout on every such call and ran 16 rows at ≈ 28 GFLOP/s per core on this AMD CPU, and one row on one
 * core unless split by hand ({@code TwoLaneMatmul}); the packed kernel runs 16 rows at ≈ 50 GFLOP/s per core and
 * streams one row's weights at what the memory gives. Both lanes claim chunks of panels from one counter, so a lane
 * that starts late costs at most a chunk. Measured on the 110M model (docs/benchmarks.md): batch 1 23 vs 27–29 ms per
 * step, batch 16 ≈ 100 vs 130–150 ms. The packed copy costs the weights' size again, in heap.
 *
 * <p>Available only when the JVM was started with {@code --add-modules jdk.incubator.vector}; otherwise the engine
 * keeps every product on libtorch. Not thread-safe: one engine thread, plus the {@link TwoLanes} helper.
 */
public final class PackedMatmul {

    public static final int MIN_ROWS = 1;
    /** Most rows a product takes: the Java forward pass's short prompts ({@link VectorForwardPass#MAX_TOKENS}). */
    static final int MAX_ROWS = 256;
    /** Most rows for which the libtorch path hands a product here (decode-sized). */
    public static final int DECODE_ROWS = 64;

    /** A weight {@code [out, in]} as panels of 16 output columns, {@code [panels][in][16]}, zero-padded. */
    public record PackedWeight(float[] data, int out, int in, int panels) {
        /** A product's row width: {@code out} rounded up to whole panels (the columns past {@code out} are 0). */
        int stride() {
            return panels * VectorSgemm.PANEL;
        }
    }

    private float[] xBuffer = new float[0];
    private float[] yBuffer = new float[0];
    private float[] xq = new float[0]; // x interleaved for VectorSgemm, grown once to the largest product
    private float[] x; // the current product's operands
    private float[] y;
    /** Panels per claim: ≈ 30 µs of work for 16 rows at width 768, so a late or slow lane costs little. */
    static final int CHUNK_PANELS = 4;
    // the operands of the current product, read by both lanes; the runnable is made once
    private PackedWeight weight;
    private int rows;
    private final AtomicInteger nextPanel = new AtomicInteger();
    private final Runnable claimChunks = this::claimChunks;

    public PackedMatmul() {
        VectorSgemm.warmUp();
        VectorAttention.warmUp(); // the model's decode attention, which uses the same module when this exists
    }

    /**
     * Whether the Vector API module is in this JVM ({@code --add-modules jdk.incubator.vector}) and the CPU has the
     * 256-bit vectors the kernels are written for.
     */
    public static boolean available() {
        return unavailableRoute() == null;
    }

    /** Why the kernels cannot run in this JVM on this CPU ({@code NO_VECTOR_MODULE}, {@code NO_AVX2}), else null. */
    public static ForwardRoute unavailableRoute() {
        if (ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) {
            return ForwardRoute.NO_VECTOR_MODULE;
        }
        // 8-float vectors in hardware: elsewhere (no AVX2) the Vector API emulates them ~100x slower than libtorch
        return VectorSgemm.hardwareFits() ? null : ForwardRoute.NO_AVX2;
    }

    /** Copies {@code w} ({@code [out, in]}, float32) into the panel layout; {@code w} is left as it was. */
    public static PackedWeight pack(NDArray w) {
        int out = Math.toIntExact(w.getShape().get(0));
        int in = Math.toIntExact(w.getShape().get(1));
        int panels = (out + VectorSgemm.PANEL - 1) / VectorSgemm.PANEL;
        if (w.getDataType() != DataType.FLOAT32) {
            throw new IllegalArgumentException("packed weights are float32, not " + w.getDataType());
        }
        try (NDManager tmp = w.getManager().newSubManager()) {
            NDArray padded = w;
            if (panels * VectorSgemm.PANEL != out) {
                padded = w.concat(tmp.zeros(new Shape(panels * VectorSgemm.PANEL - out, in), w.getDataType()), 0);
                padded.attach(tmp);
            }
            NDArray panelMajor = padded.reshape(panels, VectorSgemm.PANEL, in);
            panelMajor.attach(tmp);
            NDArray packed = panelMajor.transpose(0, 2, 1);
            packed.attach(tmp);
            float[] data = new float[Math.multiplyExact(panels * VectorSgemm.PANEL, in)];
            packed.toByteBuffer(true).asFloatBuffer().get(data); // through a view: no second heap copy to collect
            return new PackedWeight(data, out, in, panels);
        }
    }

    /**
     * {@code x·Wᵀ} for {@code x [rows, in]}: a new {@code [rows, out]} array in {@code step}. With {@code lanes}, the
     * panels are split between the engine thread and the helper.
     */
    public NDArray multiply(NDArray x, PackedWeight w, NDManager step, TwoLanes lanes) {
        int rows = Math.toIntExact(x.getShape().get(0));
        if (x.getShape().get(1) != w.in()) {
            throw new IllegalArgumentException("input width " + x.getShape().get(1) + " != weight width " + w.in());
        }
        if (xBuffer.length < rows * w.in()) {
            xBuffer = new float[rows * w.in()];
        }
        if (yBuffer.length < rows * w.stride()) {
            yBuffer = new float[rows * w.stride()];
        }
        x.toByteBuffer(true).asFloatBuffer().get(xBuffer, 0, rows * w.in()); // a view of x's memory: no copy before this
        multiply(xBuffer, rows, w, yBuffer, lanes);
        NDArray y = step.create(new Shape(rows, w.stride()), DataType.FLOAT32);
        y.toByteBuffer(true).asFloatBuffer().put(yBuffer, 0, rows * w.stride());
        return w.stride() == w.out() ? y : y.get(":, :" + w.out());
    }

    /**
     * {@code y[rows][w.stride()] = x[rows][w.in()] · Wᵀ} on float arrays (the Java decode step's form); the columns
     * past {@code w.out()} come out 0. With {@code lanes}, the panels are split between the engine thread and the
     * helper.
     */
    void multiply(float[] x, int rows, PackedWeight w, float[] y, TwoLanes lanes) {
        if (rows < MIN_ROWS || rows > MAX_ROWS || x.length < rows * w.in() || y.length < rows * w.stride()) {
            throw new IllegalArgumentException("product of " + rows + " rows does not fit its arrays");
        }
        if (rows >= 4) {
            if (xq.length < rows * w.in()) {
                xq = new float[rows * w.in()];
            }
            VectorSgemm.interleave(x, rows, w.in(), xq);
        }
        this.x = x;
        this.y = y;
        this.rows = rows;
        weight = w;
        nextPanel.set(0);
        try {
            if (lanes != null && w.panels() > CHUNK_PANELS) {
                // Both lanes claim chunks of panels until none are left, rather than a fixed half each: a helper that
                // starts late or runs slower (the JIT, a neighbour on its core) then costs at most one chunk of waiting.
                lanes.share(claimChunks);
            } else {
                claimChunks();
            }
        } finally {
            weight = null;
            this.x = null;
            this.y = null;
        }
    }

    private void claimChunks() {
        int panels = weight.panels();
        for (int from; (from = nextPanel.getAndAdd(CHUNK_PANELS)) < panels; ) {
            VectorSgemm.multiply(x, xq, rows, weight.in(), weight.data(), from, Math.min(panels, from + CHUNK_PANELS),
                    y, weight.stride());
        }
    }
}
