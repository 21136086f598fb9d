package io.kvpilot.policy;

import java.util.Arrays;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The parsed, shape-checked weights of a {@code kvpilot-quality-predictor} artefact (format of
 * {@code training/policy/train_predictor.py}), with the arithmetic of its two heads. Arrays are flat and read-only
 * after parsing; lookups by name scan a handful of entries, so nothing here allocates per call.
 */
final class PredictorWeights {

    static final String FORMAT = "kvpilot-quality-predictor";
    static final String KIND = "monotone-hazard";
    static final String UNKNOWN_TASK = "unknown";

    private final String version;
    private final String[] methods;
    private final String[] tasks;
    private final String[] hints; // task hint -> task, pairwise with hintTasks
    private final int[] hintTasks;
    private final double[] knots;
    private final int[] quantBits;
    private final double[] keptMassRatios;
    private final double lengthReference;
    private final double[][] theta = new double[2][]; // [head] flat [segment][z]
    private final double[][] beta = new double[2][];
    private final int unknownTask;
    private final int noneIndex;
    private final int cells;

    private PredictorWeights(JsonNode root, String source) {
        require(FORMAT.equals(root.path("format").asString("")), source, "format is not " + FORMAT);
        require(KIND.equals(root.path("kind").asString("")), source, "kind is not " + KIND);
        version = root.path("version").asString("");
        require(!version.isEmpty(), source, "no version");
        methods = strings(root.path("methods"), source, "methods");
        tasks = strings(root.path("tasks"), source, "tasks");
        knots = doubles(root.path("knots"), source, "knots");
        quantBits = Arrays.stream(doubles(root.path("quantized_bits"), source, "quantized_bits"))
                .mapToInt(d -> (int) d).toArray();
        keptMassRatios = doubles(root.path("kept_mass_ratios"), source, "kept_mass_ratios");
        lengthReference = root.path("log_length_reference_tokens").asDouble(0);
        require(lengthReference > 0, source, "log_length_reference_tokens must be > 0");
        require(knots.length >= 2 && knots[0] == 0.0, source, "knots must start at 0 and hold 2 or more");
        for (int k = 1; k < knots.length; k++) {
            require(knots[k] > knots[k - 1] && knots[k] < 1.0, source, "knots must ascend within [0, 1)");
        }
        noneIndex = indexOf(methods, "none");
        unknownTask = indexOf(tasks, UNKNOWN_TASK);
        require(noneIndex >= 0 && unknownTask >= 0, source, "methods must hold 'none' and tasks 'unknown'");
        JsonNode hintNode = root.path("task_of_hint");
        hints = new String[hintNode.size()];
        hintTasks = new int[hintNode.size()];
        int i = 0;
        for (var e : hintNode.properties()) {
            hints[i] = e.getKey();
            hintTasks[i] = indexOf(tasks, e.getValue().asString(""));
            require(hintTasks[i] >= 0, source, "task_of_hint maps '" + e.getKey() + "' to an unknown task");
            i++;
        }
        cells = methods.length * tasks.length;
        int segments = knots.length - 1;
        int zq = quantBits.length * cells + quantBits.length * tasks.length;
        String[] heads = {"admission", "prefill"};
        for (int h = 0; h < 2; h++) {
            JsonNode head = root.path("heads").path(heads[h]);
            int z = (2 + h) * cells;
            theta[h] = matrix(head.path("theta"), segments, z, source, heads[h] + ".theta");
            beta[h] = doubles(head.path("beta"), source, heads[h] + ".beta");
            require(beta[h].length == zq, source, heads[h] + ".beta must hold " + zq + " values, has "
                    + beta[h].length);
        }
    }

    static PredictorWeights parse(String json, String source) {
        JsonNode root;
        try {
            root = JsonMapper.builder().build().readTree(json);
        } catch (JacksonException e) {
            throw new PredictorArtefactException(source + " is not valid JSON: " + e.getOriginalMessage(), e);
        }
        return new PredictorWeights(root, source);
    }

    String version() {
        return version;
    }

    String[] methods() {
        return methods.clone();
    }

    double[] keptMassRatios() {
        return keptMassRatios;
    }

    double lengthReference() {
        return lengthReference;
    }

    int noneIndex() {
        return noneIndex;
    }

    int methodIndex(String method) {
        return indexOf(methods, method);
    }

    /** -1 for 16 bits (no quantization hazard), the index of a trained bit width, -2 for any other. */
    int bitsIndex(int bits) {
        if (bits == 16) {
            return -1;
        }
        for (int i = 0; i < quantBits.length; i++) {
            if (quantBits[i] == bits) {
                return i;
            }
        }
        return -2;
    }

    int taskIndex(String hint) {
        if (hint != null) {
            for (int i = 0; i < hints.length; i++) {
                if (hints[i].equals(hint)) {
                    return hintTasks[i];
                }
            }
        }
        return unknownTask;
    }

    /**
     * Sum over ratio segments of the share of the segment {@code ratio} covers times the segment's softplus hazard.
     * {@code masses} (kept mass at {@code massRatios}) is read only by the prefill head; null means mass 1.
     */
    double segmentHazard(boolean prefillHead, int method, int task, double lx, double ratio, double[] massRatios,
            double[] masses) {
        double[] th = theta[prefillHead ? 1 : 0];
        int z = (prefillHead ? 3 : 2) * cells;
        int mt = method * tasks.length + task;
        double h = 0;
        int last = knots.length - 1;
        for (int k = 1; k <= last; k++) {
            double v = (ratio - knots[k - 1]) / (knots[k] - knots[k - 1]);
            double cover = k == last ? Math.max(0.0, v) : Math.min(1.0, Math.max(0.0, v));
            if (cover == 0.0) {
                continue;
            }
            int row = (k - 1) * z;
            double a = th[row + mt] + th[row + cells + mt] * lx;
            if (prefillHead) {
                double kept = masses == null ? 1.0 : interpolate(massRatios, masses, knots[k]);
                a += th[row + 2 * cells + mt] * (1.0 - kept);
            }
            h += cover * softplus(a);
        }
        return h;
    }

    double quantHazard(boolean prefillHead, int bits, int method, int task, double lx) {
        double[] b = beta[prefillHead ? 1 : 0];
        double a = b[(bits * methods.length + method) * tasks.length + task]
                + b[quantBits.length * cells + bits * tasks.length + task] * lx;
        return softplus(a);
    }

    /** numpy.interp over (0, 1) followed by the measured points; flat beyond the last. */
    static double interpolate(double[] xs, double[] ys, double x) {
        double x0 = 0.0;
        double y0 = 1.0;
        for (int i = 0; i < xs.length; i++) {
            if (x <= xs[i]) {
                return x == xs[i] ? ys[i] : y0 + (ys[i] - y0) * (x - x0) / (xs[i] - x0);
            }
            x0 = xs[i];
            y0 = ys[i];
        }
        return y0;
    }

    static double softplus(double x) {
        return Math.max(x, 0.0) + Math.log1p(Math.exp(-Math.abs(x)));
    }

    private static int indexOf(String[] names, String name) {
        for (int i = 0; i < names.length; i++) {
            if (names[i].equals(name)) {
                return i;
            }
        }
        return -1;
    }

    private static void require(boolean ok, String source, String what) {
        if (!ok) {
            throw new PredictorArtefactException("invalid predictor artefact " + source + ": " + what);
        }
    }

    private static String[] strings(JsonNode node, String source, String field) {
        require(node.isArray() && !node.isEmpty(), source, field + " must be a non-empty array");
        String[] out = new String[node.size()];
        for (int i = 0; i < out.length; i++) {
            require(node.get(i).isString(), source, field + "[" + i + "] must be a string");
            out[i] = node.get(i).asString();
        }
        return out;
    }

    private static double[] doubles(JsonNode node, String source, String field) {
        require(node.isArray() && !node.isEmpty(), source, field + " must be a non-empty array");
        double[] out = new double[node.size()];
        for (int i = 0; i < out.length; i++) {
            require(node.get(i).isNumber() && Double.isFinite(node.get(i).asDouble()), source,
                    field + "[" + i + "] must be a finite number");
            out[i] = node.get(i).asDouble();
        }
        return out;
    }

    private static double[] matrix(JsonNode node, int rows, int cols, String source, String field) {
        require(node.isArray() && node.size() == rows, source, field + " must have " + rows + " rows");
        double[] out = new double[rows * cols];
        for (int r = 0; r < rows; r++) {
            double[] row = doubles(node.get(r), source, field + "[" + r + "]");
            require(row.length == cols, source, field + "[" + r + "] must hold " + cols + " values, has "
                    + row.length);
            System.arraycopy(row, 0, out, r * cols, cols);
        }
        return out;
    }
}
