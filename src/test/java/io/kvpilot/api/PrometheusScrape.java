package io.kvpilot.api;

import java.util.HashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** A parsed Prometheus text exposition: each family's type, and each sample's value by name and label set. */
record PrometheusScrape(Map<String, String> types, Map<String, Double> samples) {

    /** Label values are quoted and may hold '}' (a route template such as uri="/actuator/health/{*path}"). */
    private static final Pattern SAMPLE = Pattern.compile(
            "^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{(?:[^}\"]|\"(?:[^\"\\\\]|\\\\.)*\")*\\})? (\\S+).*$");

    static PrometheusScrape parse(String text) {
        Map<String, String> types = new HashMap<>();
        Map<String, Double> samples = new HashMap<>();
        for (String line : text.split("\n")) {
            if (line.startsWith("# TYPE ")) {
                String[] parts = line.split(" ");
                types.put(parts[2], parts[3]);
            } else if (!line.isBlank() && !line.startsWith("#")) {
                Matcher m = SAMPLE.matcher(line);
                if (!m.matches()) {
                    throw new AssertionError("not a Prometheus sample line: " + line);
                }
                samples.put(m.group(1) + (m.group(2) == null ? "" : m.group(2)), Double.parseDouble(m.group(3)));
            }
        }
        return new PrometheusScrape(types, samples);
    }

    /** The sum of every sample of {@code name} whose labels contain every one of {@code labelFragments}. */
    double sum(String name, String... labelFragments) {
        return samples.entrySet().stream()
                .filter(e -> e.getKey().equals(name) || e.getKey().startsWith(name + "{"))
                .filter(e -> java.util.Arrays.stream(labelFragments)
                        .allMatch(f -> f.isEmpty() || e.getKey().contains(f)))
                .mapToDouble(Map.Entry::getValue).sum();
    }

    /** The names of the samples of {@code name}, labels included. */
    java.util.List<String> series(String name) {
        return samples.keySet().stream().filter(k -> k.equals(name) || k.startsWith(name + "{")).sorted().toList();
    }
}
