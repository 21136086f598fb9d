package io.kvpilot.api;

import java.util.ArrayList;
import java.util.List;
import tools.jackson.databind.JsonNode;

/** Typed, range-checked reads of one JSON object's fields; every failure is a 400 naming the field. */
final class JsonFields {

    private final JsonNode node;
    private final String prefix;

    JsonFields(JsonNode node, String prefix) {
        this.node = node;
        this.prefix = prefix;
    }

    /** The field, or null when absent or JSON null (both mean "use the default"). */
    JsonNode get(String field) {
        JsonNode value = node.get(field);
        return value == null || value.isNull() ? null : value;
    }

    String name(String field) {
        return prefix + field;
    }

    String string(String field, String fallback) {
        JsonNode v = get(field);
        if (v == null) {
            return fallback;
        }
        if (!v.isString()) {
            throw ApiError.invalid(name(field), "'" + name(field) + "' must be a string");
        }
        return v.stringValue();
    }

    boolean bool(String field, boolean fallback) {
        JsonNode v = get(field);
        if (v == null) {
            return fallback;
        }
        if (!v.isBoolean()) {
            throw ApiError.invalid(name(field), "'" + name(field) + "' must be a boolean");
        }
        return v.booleanValue();
    }

    /** An integer in {@code [min, max]}. */
    long integer(String field, long fallback, long min, long max) {
        JsonNode v = get(field);
        if (v == null) {
            return fallback;
        }
        if (!v.isIntegralNumber() || !v.canConvertToLong()) {
            throw ApiError.invalid(name(field), "'" + name(field) + "' must be an integer");
        }
        long value = v.longValue();
        if (value < min || value > max) {
            throw ApiError.invalid(name(field), "'" + name(field) + "' must be between " + min + " and " + max
                    + ", got " + value);
        }
        return value;
    }

    /** A number in {@code [min, max]} (or {@code (min, max]} when {@code minExclusive}). */
    double number(String field, double fallback, double min, boolean minExclusive, double max) {
        JsonNode v = get(field);
        if (v == null) {
            return fallback;
        }
        if (!v.isNumber()) {
            throw ApiError.invalid(name(field), "'" + name(field) + "' must be a number");
        }
        double value = v.doubleValue();
        boolean low = minExclusive ? value <= min : value < min;
        if (low || value > max || Double.isNaN(value)) {
            throw ApiError.invalid(name(field), "'" + name(field) + "' must be in " + (minExclusive ? "(" : "[")
                    + min + ", " + max + "], got " + value);
        }
        return value;
    }

    /** A string or an array of at most {@code maxItems} strings. */
    List<String> strings(String field, int maxItems) {
        JsonNode v = get(field);
        if (v == null) {
            return List.of();
        }
        if (v.isString()) {
            if (v.stringValue().isEmpty()) { // refused like [""]: an empty stop string would match at once
                throw ApiError.invalid(name(field), "'" + name(field) + "' must not be an empty string");
            }
            return List.of(v.stringValue());
        }
        if (!v.isArray() || v.size() > maxItems) {
            throw ApiError.invalid(name(field), "'" + name(field) + "' must be a string or an array of at most "
                    + maxItems + " strings");
        }
        List<String> out = new ArrayList<>();
        for (JsonNode item : v) {
            if (!item.isString() || item.stringValue().isEmpty()) {
                throw ApiError.invalid(name(field), "'" + name(field) + "' items must be non-empty strings");
            }
            out.add(item.stringValue());
        }
        return out;
    }
}
