package io.kvpilot.api;

import io.kvpilot.engine.ChatMessage;
import io.kvpilot.engine.SamplingParams;
import io.kvpilot.kvcache.KvCompressionSpec;
import io.kvpilot.kvcache.press.KvMethods;
import io.kvpilot.policy.AutoCompression;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Parses and validates request bodies by hand so that every wrong type or range is a 400 naming the field (OpenAI's
 * parameter ranges; the KVPilot extension {@code kv_compression}; {@code ignore_eos} as in vLLM). Unknown fields are
 * ignored, as OpenAI-compatible servers do; known but unsupported features with non-default values are refused.
 */
final class RequestReader {

    private static final Set<String> ROLES = Set.of("system", "developer", "user", "assistant", "tool");

    private final JsonMapper json;
    private final int defaultMaxTokens;
    private final KvCompressionSpec autoCompression;
    private static final Set<String> AUTO_FIELDS = Set.of("min_quality", "slo_class", "task");
    private static final Pattern TASK = Pattern.compile("[a-z][a-z0-9_]{0,31}");
    /** Prompts one completion request may hold; each is admitted as its own sequence. */
    static final int MAX_PROMPTS = 16;
    private static final String PROMPT_SHAPES = "'prompt' must be a string, an array of token ids (non-negative "
            + "integers), or an array of several strings or token-id arrays";

    private final KvMethods methods;
    private final Set<String> sloClasses; // empty: no controller, "auto" is the static default

    RequestReader(JsonMapper json, int defaultMaxTokens, KvCompressionSpec autoCompression, KvMethods methods) {
        this(json, defaultMaxTokens, autoCompression, methods, Set.of());
    }

    /** @param sloClasses the controller's SLO classes; empty when no controller decides {@code auto} */
    RequestReader(JsonMapper json, int defaultMaxTokens, KvCompressionSpec autoCompression, KvMethods methods,
            Set<String> sloClasses) {
        this.json = json;
        this.defaultMaxTokens = defaultMaxTokens;
        this.autoCompression = autoCompression;
        this.methods = methods;
        this.sloClasses = Set.copyOf(sloClasses);
    }

    JsonFields object(String body) {
        if (body == null || body.isBlank()) {
            throw ApiError.invalid(null, "The request body must be a JSON object");
        }
        JsonNode node;
        try {
            node = json.readTree(body);
        } catch (JacksonException e) {
            throw ApiError.invalid(null, "The request body is not valid JSON: " + e.getOriginalMessage());
        }
        if (node == null || !node.isObject()) {
            throw ApiError.invalid(null, "The request body must be a JSON object");
        }
        return new JsonFields(node, "");
    }

    CompletionParams params(JsonFields f, String maxTokensAlias) {
        f.integer("n", 1, 1, 1);
        f.integer("best_of", 1, 1, 1);
        refuse(f, "presence_penalty", f.number("presence_penalty", 0, -2, false, 2) != 0);
        refuse(f, "frequency_penalty", f.number("frequency_penalty", 0, -2, false, 2) != 0);
        refuse(f, "echo", f.bool("echo", false));
        JsonNode logprobs = f.get("logprobs");
        refuse(f, "logprobs", logprobs != null && !(logprobs.isBoolean() && !logprobs.booleanValue()));
        tools(f);
        responseFormat(f);
        f.string("user", null);
        long maxTokens = f.integer("max_tokens", defaultMaxTokens, 1, 1 << 20);
        if (maxTokensAlias != null && f.get(maxTokensAlias) != null) {
            maxTokens = f.integer(maxTokensAlias, defaultMaxTokens, 1, 1 << 20);
        }
        double temperature = f.number("temperature", 1.0, 0, false, 2);
        if (temperature > 0 && temperature < SamplingParams.MIN_TEMPERATURE) {
            // 1/T must stay finite for the sampler (1e-320 overflowed it); so small a T is greedy in all but name
            throw ApiError.invalid("temperature", "'temperature' must be 0 (greedy) or at least "
                    + SamplingParams.MIN_TEMPERATURE + ", got " + temperature);
        }
        double topP = f.number("top_p", 1.0, 0, true, 1);
        long topK = f.integer("top_k", 0, -1, 1 << 20);
        JsonNode seedNode = f.get("seed");
        Long seed = seedNode == null ? null : f.integer("seed", 0, Long.MIN_VALUE, Long.MAX_VALUE);
        List<String> stop = f.strings("stop", 4);
        boolean ignoreEos = f.bool("ignore_eos", false);
        boolean stream = f.bool("stream", false);
        boolean includeUsage = false;
        JsonNode options = f.get("stream_options");
        if (options != null) {
            if (!options.isObject()) {
                throw ApiError.invalid("stream_options", "'stream_options' must be an object");
            }
            includeUsage = new JsonFields(options, "stream_options.").bool("include_usage", false);
        }
        SamplingParams sampling = new SamplingParams(temperature, topP, (int) topK, seed, (int) maxTokens, stop,
                ignoreEos);
        AutoCompression auto = auto(f.get("kv_compression"));
        KvCompressionSpec compression = auto != null ? autoCompression : compression(f);
        String decidedBy = compression == autoCompression ? "default" : "request";
        return new CompletionParams(f.string("model", null), sampling, stream, includeUsage, compression, decidedBy,
                sloClasses.isEmpty() ? null : auto);
    }

    /**
     * {@code "auto"}, an absent field, or {@code {"auto": {"min_quality", "slo_class", "task"}}} (each optional): the
     * controller decides, within the floor and class given; null for {@code "off"} or an explicit setting.
     */
    private AutoCompression auto(JsonNode v) {
        if (v == null || (v.isString() && v.stringValue().equals("auto"))) {
            return AutoCompression.DEFAULT;
        }
        if (!v.isObject() || v.get("auto") == null) {
            return null;
        }
        if (v.size() != 1) {
            throw ApiError.invalid("kv_compression", "'kv_compression' is either {\"auto\": {...}} or {\"method\", "
                    + "\"ratio\", \"bits\"}, not both");
        }
        JsonNode a = v.get("auto");
        if (!a.isObject()) {
            throw ApiError.invalid("kv_compression.auto", "'kv_compression.auto' must be an object with optional "
                    + "'min_quality', 'slo_class' and 'task'");
        }
        for (String name : a.propertyNames()) {
            if (!AUTO_FIELDS.contains(name)) {
                throw ApiError.invalid("kv_compression.auto." + name, "'kv_compression.auto." + name
                        + "' is not a field of kv_compression.auto (known: min_quality, slo_class, task)");
            }
        }
        JsonFields fields = new JsonFields(a, "kv_compression.auto.");
        Double minQuality = a.get("min_quality") == null ? null : fields.number("min_quality", 0.0, 0.0, false, 1.0);
        String sloClass = fields.string("slo_class", null);
        if (sloClass != null && !sloClasses.isEmpty() && !sloClasses.contains(sloClass)) {
            throw ApiError.invalid("kv_compression.auto.slo_class", "'kv_compression.auto.slo_class' must be one of "
                    + new java.util.TreeSet<>(sloClasses));
        }
        String task = fields.string("task", null);
        if (task != null && !TASK.matcher(task).matches()) {
            throw ApiError.invalid("kv_compression.auto.task", "'kv_compression.auto.task' must be a snake_case hint "
                    + "of at most 32 characters (e.g. retrieval, continuation)");
        }
        return new AutoCompression(minQuality, sloClass, task);
    }

    /** One fixed setting at {@code field} ({@code "off"} or {@code {"method", "ratio", "bits"}}), validated alike. */
    KvCompressionSpec setting(JsonNode v, String field) {
        return spec(v, field);
    }

    /** What {@code auto} is when no controller decides it (or before the controller has). */
    KvCompressionSpec autoCompression() {
        return autoCompression;
    }

    /** Whether the controller decides {@code auto} requests. */
    boolean controllerDecidesAuto() {
        return !sloClasses.isEmpty();
    }

    /** {@code "off"} → none; an object → what it says. */
    private KvCompressionSpec compression(JsonFields f) {
        return spec(f.get("kv_compression"), "kv_compression");
    }

    /** A setting an admin pins for every {@code auto} request: {@code {"method", "ratio", "bits"}} or {@code "off"}. */
    KvCompressionSpec pinnedSpec(String body) {
        if (body != null && body.strip().equals("\"off\"")) {
            return KvCompressionSpec.NONE;
        }
        return spec(object(body), "");
    }

    private KvCompressionSpec spec(JsonNode v, String field) {
        if (v.isString() && v.stringValue().equals("off")) {
            return KvCompressionSpec.NONE;
        }
        if (!v.isObject()) {
            throw ApiError.invalid(field,
                    "'" + field + "' must be \"auto\", \"off\", {\"auto\": {...}} or {\"method\", \"ratio\", "
                            + "\"bits\"}");
        }
        return spec(new JsonFields(v, field + "."), field + ".");
    }

    /** Validates {@code method}, {@code ratio}, {@code bits} of {@code c}, the params named with {@code at}. */
    private KvCompressionSpec spec(JsonFields c, String at) {
        String method = c.string("method", null);
        if (method == null) {
            throw ApiError.invalid(at + "method", "'" + at + "method' is required");
        }
        double ratio = c.number("ratio", 0.0, 0.0, false, 0.999999);
        long bits = c.integer("bits", 16, 2, 16);
        if (bits != 16 && bits != 8 && bits != 4 && bits != 2) {
            throw ApiError.invalid(at + "bits", "'" + at + "bits' must be 16, 8, 4 or 2");
        }
        KvCompressionSpec spec;
        try {
            spec = new KvCompressionSpec(method, ratio, (int) bits);
        } catch (IllegalArgumentException e) {
            throw ApiError.invalid(at + "method", e.getMessage());
        }
        try {
            methods.create(spec); // unknown method, or a combination the method cannot store
        } catch (IllegalArgumentException e) {
            throw ApiError.invalid(at.isEmpty() ? "method" : at.substring(0, at.length() - 1), e.getMessage());
        }
        return spec;
    }

    /**
     * {@code prompt}: a string, an array of token ids, or an array of several of either (strings, or arrays of token
     * ids), each then its own choice as vLLM serves them; at most {@link #MAX_PROMPTS}. Each element is a
     * {@code String} or an {@code int[]}.
     */
    List<Object> prompts(JsonFields f) {
        JsonNode p = f.get("prompt");
        if (p == null) {
            throw ApiError.invalid("prompt", "'prompt' is required");
        }
        if (p.isString()) {
            return List.of(p.stringValue());
        }
        if (!p.isArray() || p.isEmpty()) {
            throw ApiError.invalid("prompt", "'prompt' must be a non-empty string or array");
        }
        if (p.get(0).isIntegralNumber()) {
            return List.of(tokenIds(p));
        }
        if (p.size() > MAX_PROMPTS) {
            throw ApiError.invalid("prompt", "'prompt' may hold at most " + MAX_PROMPTS + " prompts, got "
                    + p.size());
        }
        List<Object> prompts = new ArrayList<>(p.size());
        for (JsonNode one : p) {
            if (one.isString()) {
                prompts.add(one.stringValue());
            } else if (one.isArray() && !one.isEmpty()) {
                prompts.add(tokenIds(one));
            } else {
                throw ApiError.invalid("prompt", PROMPT_SHAPES);
            }
        }
        return prompts;
    }

    private static int[] tokenIds(JsonNode array) {
        int[] ids = new int[array.size()];
        for (int i = 0; i < ids.length; i++) {
            JsonNode t = array.get(i);
            if (!t.isIntegralNumber() || !t.canConvertToInt() || t.intValue() < 0) {
                throw ApiError.invalid("prompt", PROMPT_SHAPES);
            }
            ids[i] = t.intValue();
        }
        return ids;
    }

    List<ChatMessage> messages(JsonFields f) {
        JsonNode m = f.get("messages");
        if (m == null || !m.isArray() || m.isEmpty()) {
            throw ApiError.invalid("messages", "'messages' must be a non-empty array");
        }
        List<ChatMessage> out = new ArrayList<>();
        for (int i = 0; i < m.size(); i++) {
            String at = "messages[" + i + "]";
            if (!m.get(i).isObject()) {
                throw ApiError.invalid(at, "'" + at + "' must be an object");
            }
            JsonFields message = new JsonFields(m.get(i), at + ".");
            String role = message.string("role", null);
            if (role == null || !ROLES.contains(role)) {
                throw ApiError.invalid(at + ".role", "'" + at + ".role' must be one of " + ROLES);
            }
            out.add(new ChatMessage(role.equals("developer") ? "system" : role, content(message, at)));
        }
        return out;
    }

    /** {@code content}: a string or an array of {@code {"type": "text", "text": ...}} parts. */
    private static String content(JsonFields message, String at) {
        JsonNode c = message.get("content");
        if (c == null) {
            return "";
        }
        if (c.isString()) {
            return c.stringValue();
        }
        if (!c.isArray()) {
            throw ApiError.invalid(at + ".content", "'" + at + ".content' must be a string or an array of text parts");
        }
        StringBuilder text = new StringBuilder();
        for (JsonNode part : c) {
            if (!part.isObject() || part.get("type") == null || !"text".equals(part.get("type").asString())
                    || part.get("text") == null || !part.get("text").isString()) {
                throw ApiError.invalid(at + ".content", "'" + at + ".content' parts must be {\"type\": \"text\", "
                        + "\"text\": string}; only text is supported");
            }
            text.append(part.get("text").stringValue());
        }
        return text.toString();
    }

    /**
     * {@code tools}: an array of objects; a non-empty one is refused (no tool calling here), and so is a
     * {@code tool_choice} that would need one: only {@code "none"} and {@code "auto"} (which then means none) pass.
     */
    private static void tools(JsonFields f) {
        JsonNode tools = f.get("tools");
        if (tools != null) {
            if (!tools.isArray()) {
                throw ApiError.invalid("tools", "'tools' must be an array of objects");
            }
            for (JsonNode tool : tools) {
                if (!tool.isObject()) {
                    throw ApiError.invalid("tools", "'tools' must be an array of objects");
                }
            }
            refuse(f, "tools", !tools.isEmpty());
        }
        JsonNode choice = f.get("tool_choice");
        if (choice != null && !(choice.isString()
                && (choice.stringValue().equals("none") || choice.stringValue().equals("auto")))) {
            throw ApiError.invalid("tool_choice", "'tool_choice' must be \"none\" or \"auto\": this server does "
                    + "not call tools");
        }
    }

    /** {@code response_format}: only {@code {"type": "text"}}, the default; JSON modes are not supported. */
    private static void responseFormat(JsonFields f) {
        JsonNode format = f.get("response_format");
        if (format == null) {
            return;
        }
        if (!format.isObject() || format.get("type") == null || !format.get("type").isString()) {
            throw ApiError.invalid("response_format", "'response_format' must be an object {\"type\": \"text\"}");
        }
        if (!format.get("type").stringValue().equals("text")) {
            throw ApiError.invalid("response_format", "'response_format' type '" + truncated(
                    format.get("type").stringValue()) + "' is not supported; only \"text\" is");
        }
    }

    private static String truncated(String value) {
        return value.length() <= 40 ? value : value.substring(0, 40) + "...";
    }

    private static void refuse(JsonFields f, String field, boolean used) {
        if (used) {
            throw ApiError.invalid(field, "'" + field + "' is not supported by this server");
        }
    }
}
