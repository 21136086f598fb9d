package io.kvpilot.engine.template;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every template of the corpus (real templates of the major model families plus KVPilot's feature template) over
 * every conversation renders exactly what jinja2, configured as transformers configures it, rendered
 * (training/chat_templates/render_fixtures.py); where jinja2 failed, this renderer fails too.
 */
class ChatTemplateFixturesTest {

    static final Path DIR = Path.of("src/test/resources/chat-templates");
    static final Clock PINNED = Clock.fixed(LocalDateTime.parse("2026-07-26T10:30:00").toInstant(ZoneOffset.UTC),
            ZoneOffset.UTC);

    static Stream<Arguments> cases() throws IOException {
        JsonObject fixtures = JsonParser.parseString(Files.readString(DIR.resolve("fixtures.json"),
                StandardCharsets.UTF_8)).getAsJsonObject();
        List<Arguments> out = new ArrayList<>();
        for (JsonElement c : fixtures.getAsJsonArray("cases")) {
            JsonObject o = c.getAsJsonObject();
            out.add(Arguments.of(o.get("template").getAsString(), o.get("conversation").getAsString(), o));
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0} / {1}")
    @MethodSource("cases")
    void rendersAsJinja2Does(String template, String conversation, JsonObject fixture) throws IOException {
        ChatTemplate compiled = ChatTemplate.compile(Files.readString(DIR.resolve(template), StandardCharsets.UTF_8));
        @SuppressWarnings("unchecked")
        Map<String, Object> context = (Map<String, Object>) plain(fixture.get("context"));
        if (fixture.has("expected")) {
            assertEquals(fixture.get("expected").getAsString(), compiled.render(context, RenderLimits.DEFAULTS,
                    PINNED));
        } else {
            TemplateException e = assertThrows(TemplateException.class,
                    () -> compiled.render(context, RenderLimits.DEFAULTS, PINNED));
            if (fixture.get("error").getAsString().equals("RAISED")) {
                assertEquals(TemplateException.Kind.RAISED, e.kind());
                assertEquals(fixture.get("message").getAsString(), e.getMessage());
            }
        }
    }

    /** JSON as the plain values a context holds (integers stay integers, as in Python). */
    static Object plain(JsonElement e) {
        if (e == null || e.isJsonNull()) {
            return null;
        }
        if (e.isJsonObject()) {
            Map<String, Object> m = new LinkedHashMap<>();
            e.getAsJsonObject().entrySet().forEach(x -> m.put(x.getKey(), plain(x.getValue())));
            return m;
        }
        if (e.isJsonArray()) {
            List<Object> l = new ArrayList<>();
            e.getAsJsonArray().forEach(x -> l.add(plain(x)));
            return l;
        }
        var p = e.getAsJsonPrimitive();
        if (p.isBoolean()) {
            return p.getAsBoolean();
        }
        if (p.isNumber()) {
            String s = p.getAsString();
            return s.contains(".") || s.contains("e") || s.contains("E") ? (Object) p.getAsDouble()
                    : (Object) p.getAsLong();
        }
        return p.getAsString();
    }
}
