package io.kvpilot.engine.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.kvpilot.engine.ChatMessage;
import io.kvpilot.engine.template.TemplateException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.boot.test.system.CapturedOutput;
import org.springframework.boot.test.system.OutputCaptureExtension;

/** Where a checkpoint's chat template comes from, and what it sees: as transformers finds and renders it. */
@ExtendWith(OutputCaptureExtension.class)
class CheckpointChatTemplateTest {

    @TempDir
    Path dir;

    static final List<ChatMessage> HELLO = List.of(new ChatMessage("user", "hello"));

    static JsonObject config(String json) {
        return JsonParser.parseString(json).getAsJsonObject();
    }

    @Test
    void chatTemplateJinjaBesideTheConfigWins() throws Exception {
        Files.writeString(dir.resolve("chat_template.jinja"), "from-file {{ messages[0].content }}\n");
        CheckpointChatTemplate t = CheckpointChatTemplate.load(dir, config("""
                {"chat_template": "from-config"}"""));

        assertEquals("from-file hello", t.render(HELLO));
        assertEquals("chat_template.jinja", t.source());
    }

    @Test
    void namedTemplatesUseTheDefaultOne() {
        CheckpointChatTemplate t = CheckpointChatTemplate.load(dir, config("""
                {"chat_template": [{"name": "tool_use", "template": "tools"}, {"name": "default", "template": "plain"}]}
                """));

        assertEquals("plain", t.render(HELLO));
    }

    @Test
    void specialTokensAreThoseTheConfigNamesAndToolsAreNone() {
        CheckpointChatTemplate t = CheckpointChatTemplate.load(dir, config("""
                {"bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>", "pad_token": null,
                 "chat_template": "{{ bos_token }}|{{ eos_token }}|{{ pad_token is defined }}|{{ tools is none }}|{{ add_generation_prompt }}"}
                """));

        assertEquals("<s>|</s>|False|True|True", t.render(HELLO));
    }

    @Test
    void messagesKeepTheirFieldOrderForTojson() {
        CheckpointChatTemplate t = CheckpointChatTemplate.load(dir, config("""
                {"chat_template": "{{ messages | tojson }}"}"""));

        assertEquals("[{\"role\": \"user\", \"content\": \"hello\"}]", t.render(HELLO));
    }

    @Test
    void withoutATemplateChatMlIsUsedAndSaidOnceAtLoad(CapturedOutput output) {
        CheckpointChatTemplate t = CheckpointChatTemplate.load(dir, config("{}"));

        assertEquals("<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n", t.render(HELLO));
        t.render(HELLO);
        assertThat(output.getAll()).containsOnlyOnce("has no chat template");
    }

    @Test
    void anUnparsableTemplateIsReportedAtLoadAndRefusesEveryChat(CapturedOutput output) {
        CheckpointChatTemplate t = CheckpointChatTemplate.load(dir, config("""
                {"chat_template": "{% for m in messages %}unclosed"}"""));

        assertThat(output.getAll()).contains("cannot be parsed");
        TemplateException e = assertThrows(TemplateException.class, () -> t.render(HELLO));
        assertEquals(TemplateException.Kind.SYNTAX, e.kind());
    }

    @Test
    void aFailingRenderLogsNeitherContentNorStackTrace(CapturedOutput output) {
        CheckpointChatTemplate t = CheckpointChatTemplate.load(dir, config("""
                {"chat_template": "{{ messages[0].content + 1 }}"}"""));

        TemplateException e = assertThrows(TemplateException.class,
                () -> t.render(List.of(new ChatMessage("user", "SECRET-text-91"))));
        assertThat(e.getMessage()).doesNotContain("SECRET");
        assertThat(output.getAll()).doesNotContain("SECRET").doesNotContain("\tat ");
    }
}
