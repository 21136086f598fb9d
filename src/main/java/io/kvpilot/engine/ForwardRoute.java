package io.kvpilot.engine;

/**
 * Which forward pass ran a pass of the model, and why: {@link #JAVA} when {@code VectorForwardPass} took it, else the
 * first reason it could not. A step's route is its first libtorch pass's, or {@code JAVA} when every pass ran there
 * (a libtorch pass dominates a step's time). {@link #path()} and {@link #reason()} are the label values telemetry
 * exports.
 */
public enum ForwardRoute {
    /**
     * Dense, int8, KIVI or low-rank-key stores, head-ragged (AdaKV) or not, mixed freely, and a short pass: the Java
     * Vector API pass ran, reading the compressed stores in place. The label keeps its first value, {@code dense},
     * for dashboards that select on it.
     */
    JAVA("java", "dense"),
    /**
     * A compressed store the Java kernels do not read (a KIVI layout whose codes do not fill whole vectors, a format
     * registered by a user), or a prompt observed for compression whose store is already compressed.
     */
    QUANTIZED_STORE("libtorch", "quantized_store"),
    /**
     * A head-ragged store whose padding is not one slot range per head ({@code KvLayerStore.padding()} null): only
     * libtorch's mask hides it. The built-in stores always pad that way, so their ragged caches run on the Java pass.
     */
    RAGGED_STORE("libtorch", "ragged_store"),
    /** A model with a sliding window whose window this pass reaches. */
    SLIDING_WINDOW("libtorch", "sliding_window"),
    /** More tokens than the Java pass takes at all ({@code PackedMatmul.MAX_ROWS}). */
    LONG_PROMPT("libtorch", "long_prompt"),
    /** More than 64 tokens whose attention spans more entries than the Java pass is faster for. */
    LONG_CONTEXT("libtorch", "long_context"),
    /** The JVM runs without {@code --add-modules jdk.incubator.vector}. */
    NO_VECTOR_MODULE("libtorch", "no_vector_module"),
    /** The CPU has no 256-bit vectors (AVX2): the Vector API would emulate them, far slower than libtorch. */
    NO_AVX2("libtorch", "no_avx2"),
    /** The engine options turned the Java pass off. */
    VECTOR_DISABLED("libtorch", "vector_disabled"),
    /** A segment of no tokens (the Java pass needs at least one per sequence). */
    EMPTY_SEGMENT("libtorch", "empty_segment"),
    /** A prompt whose compressor wants every query's attention summed (H2O): only libtorch keeps the matrix. */
    ATTENTION_SUMS("libtorch", "attention_sums");

    private final String path;
    private final String reason;

    ForwardRoute(String path, String reason) {
        this.path = path;
        this.reason = reason;
    }

    /** {@code java} or {@code libtorch}. */
    public String path() {
        return path;
    }

    /** Why that path ran, e.g. {@code dense}, {@code quantized_store}, {@code long_prompt}, {@code no_avx2}. */
    public String reason() {
        return reason;
    }

    public boolean isJava() {
        return this == JAVA;
    }
}
