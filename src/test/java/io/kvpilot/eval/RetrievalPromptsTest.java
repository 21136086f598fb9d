package io.kvpilot.eval;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.kvpilot.engine.EngineLoader;
import io.kvpilot.engine.GenerationEngine;
import io.kvpilot.engine.TextCodec;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.function.ToIntFunction;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The Java prompt builders reproduce training/synthetic.py exactly: strings from the Python builders
 * (src/test/resources/eval/prompts.json, made by make_prompt_fixture.py beside it with a stand-in token counter),
 * and, with the real tokenizer, the token counts and keys of the Python evaluation (models/kvpilot-mini/eval.json).
 */
class RetrievalPromptsTest {

    /** The fixture script's stand-in tokenizer: BOS + one token per 4 UTF-8 bytes. */
    static final ToIntFunction<String> STAND_IN = s -> 1 + (s.getBytes(StandardCharsets.UTF_8).length + 3) / 4;

    static JsonNode fixture() throws Exception {
        try (InputStream in = RetrievalPromptsTest.class.getResourceAsStream("/eval/prompts.json")) {
            return JsonMapper.builder().build().readTree(in);
        }
    }

    @Test
    void promptsEqualThePythonBuilders() throws Exception {
        JsonNode cases = fixture().get("cases");
        assertTrue(cases.size() >= 20);
        for (JsonNode c : cases) {
            int length = c.get("length").asInt(), trial = c.get("trial").asInt();
            RetrievalPrompts.Case got = c.get("task").asString().equals("passkey")
                    ? RetrievalPrompts.passkeyCase(STAND_IN, length, c.get("pct").asInt(), trial)
                    : RetrievalPrompts.multikeyCase(STAND_IN, length, trial);
            String where = c.get("task").asString() + " L=" + length + " pct=" + c.get("pct").asInt() + " t=" + trial;
            assertEquals(c.get("prompt").asString(), got.prompt(), where);
            assertEquals(c.get("expected").asString(), got.expected(), where);
            assertEquals(got.prompt(), got.context() + got.question());
            assertTrue(got.question().startsWith("\nWhat is the"), where);
        }
    }

    @Test
    void answerCheckMatchesPython() throws Exception {
        for (JsonNode a : fixture().get("answers")) {
            assertEquals(a.get(2).asBoolean(), RetrievalPrompts.answerCorrect(a.get(0).asString(), a.get(1).asString()),
                    a.toString());
        }
    }

    @Test
    void evalValueIsExactIn64Bits() {
        // passkey keys of the Python evaluation's first trials (eval.json)
        assertEquals(24267, RetrievalPrompts.evalValue(512, 10, 0));
        assertEquals(69563, RetrievalPrompts.evalValue(1024, 90, 0));
        assertEquals(54635, RetrievalPrompts.evalValue(2048, 90, 0));
        for (int t = 0; t < 1000; t += 37) {
            long v = RetrievalPrompts.evalValue(2048, 103, t);
            assertTrue(v >= 10000 && v <= 99999);
        }
    }

    /** With the real tokenizer: the Python evaluation's prompt token counts and keys for the first trial. */
    @Test
    void realTokenizerGivesThePythonEvaluationsPromptLengths() throws Exception {
        Path model = Path.of("models/kvpilot-mini");
        JsonNode eval = JsonMapper.builder().build().readTree(Files.readString(model.resolve("eval.json")));
        try (GenerationEngine engine = EngineLoader.load(model)) {
            TextCodec codec = engine.textCodec();
            ToIntFunction<String> count = s -> codec.encode(s, true).length;
            int checked = 0;
            for (JsonNode ex : eval.get("passkey").get("first_trial_examples")) {
                int length = ex.get("L").asInt(), pct = ex.get("depth_pct").asInt();
                RetrievalPrompts.Case c = RetrievalPrompts.passkeyCase(count, length, pct, 0);
                assertEquals(ex.get("prompt_tokens").asInt(), count.applyAsInt(c.prompt()), "L=" + length + " " + pct);
                assertEquals(ex.get("expected").asString(), c.expected());
                // the context's tokens are a prefix of the prompt's (the harness feeds the question's tokens after)
                int[] all = codec.encode(c.prompt(), true), ctx = codec.encode(c.context(), true);
                assertArrayEquals(ctx, Arrays.copyOf(all, ctx.length));
                checked++;
            }
            assertEquals(15, checked);
            RetrievalPrompts.Case mk = RetrievalPrompts.multikeyCase(count, 1024, 5);
            assertTrue(count.applyAsInt(mk.prompt()) <= 1024 - RetrievalPrompts.ANSWER_TOKENS);
            assertTrue(count.applyAsInt(mk.prompt() + RetrievalPrompts.filler(1)) > 1024 - RetrievalPrompts.ANSWER_TOKENS);
        }
    }
}
