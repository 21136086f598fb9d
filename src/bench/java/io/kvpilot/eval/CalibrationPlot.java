package io.kvpilot.eval;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The quality predictor's calibration plot: mean measured against mean predicted quality per bin of prediction, one
 * panel per task family, from the {@code calibration.csv} that {@code training/policy/train_predictor.py} writes
 * (held-out prompts only).
 *
 * <pre>
 * source bench/classpath.sh
 * java -cp "$KVPILOT_CP" io.kvpilot.eval.CalibrationPlot policy-models/v1/calibration.csv OUT.png
 * </pre>
 */
public final class CalibrationPlot {

    private CalibrationPlot() {}

    public static void main(String[] args) throws IOException {
        Path csv = Path.of(args[0]);
        Map<String, List<double[]>> byTask = new LinkedHashMap<>();
        for (String line : Files.readAllLines(csv, StandardCharsets.UTF_8)) {
            if (line.isBlank() || line.startsWith("task,")) {
                continue;
            }
            String[] f = line.split(",");
            byTask.computeIfAbsent(f[0], k -> new ArrayList<>())
                    .add(new double[] {Double.parseDouble(f[4]), Double.parseDouble(f[5]), Double.parseDouble(f[3])});
        }
        List<PngPlot.Panel> panels = new ArrayList<>();
        for (Map.Entry<String, List<double[]>> e : byTask.entrySet()) {
            List<double[]> bins = e.getValue();
            int rows = bins.stream().mapToInt(b -> (int) b[2]).sum();
            PngPlot.Panel p = new PngPlot.Panel(e.getKey() + " (" + rows + " held-out rows)", "mean predicted quality",
                    "mean measured quality").xRange(0, 1).yRange(0, 1);
            p.add(new PngPlot.Series("ideal", new double[] {0, 1}, new double[] {0, 1}, true));
            p.add(new PngPlot.Series("predictor (10 bins of prediction)",
                    bins.stream().mapToDouble(b -> b[0]).toArray(), bins.stream().mapToDouble(b -> b[1]).toArray(),
                    true));
            panels.add(p);
        }
        PngPlot.write(Path.of(args[1]), "Quality predictor calibration on held-out prompts", panels);
    }
}
