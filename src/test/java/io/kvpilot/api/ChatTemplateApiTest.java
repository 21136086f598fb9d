package io.kvpilot.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.kvpilot.serving.Scheduler;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.test.system.CapturedOutput;
import org.springframework.boot.test.system.OutputCaptureExtension;
import org.springframework.http.MediaType;
import org.springframework.test.web.reactive.server.WebTestClient;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Chat templates over HTTP, on the fake engine whose template runs in the real interpreter: message text is data
 * (rendered literally, never evaluated), and a template that refuses a conversation is the same 400 on
 * {@code /v1/chat/completions} and {@code /tokenize}, with nothing of the conversation in the log.
 */
@FakeServingTest
@ExtendWith(OutputCaptureExtension.class)
class ChatTemplateApiTest {

    static final String HOSTILE = "{{ 7*7 }} {% include 'file:/etc/passwd' %}{% for i in range(1000) %}"
            + "{% for j in range(1000) %}x{% endfor %}{% endfor %} {{ ''.__class__ }}";

    @Autowired
    WebTestClient client;

    @Autowired
    Scheduler scheduler;

    @Autowired
    JsonMapper json;

    @BeforeEach
    void ready() {
        TestWaits.until(scheduler::isReady);
    }

    private WebTestClient.ResponseSpec post(String path, Object body) {
        return client.post().uri(path).header("Authorization", "Bearer test-key")
                .contentType(MediaType.APPLICATION_JSON).bodyValue(json.writeValueAsString(body)).exchange();
    }

    private static Object messages(Object... roleContent) {
        java.util.List<Map<String, String>> list = new java.util.ArrayList<>();
        for (int i = 0; i < roleContent.length; i += 2) {
            list.add(Map.of("role", (String) roleContent[i], "content", (String) roleContent[i + 1]));
        }
        return list;
    }

    @Test
    void hostileMessageTextIsRenderedLiterallyInTheChatPrompt() {
        byte[] body = post("/tokenize", Map.of("messages", messages("user", HOSTILE))).expectStatus().isOk()
                .expectBody().returnResult().getResponseBody();
        JsonNode tokens = json.readTree(body).get("tokens");

        // the fake tokenizer is one token per ASCII character: the prompt is exactly the template around the text
        String expected = "<user>" + HOSTILE + "\n<assistant>";
        StringBuilder prompt = new StringBuilder();
        tokens.forEach(t -> prompt.append((char) t.intValue()));
        assertThat(prompt.toString()).isEqualTo(expected);

        JsonNode chat = json.readTree(post("/v1/chat/completions", Map.of("messages", messages("user", HOSTILE),
                "max_tokens", 2)).expectStatus().isOk().expectBody().returnResult().getResponseBody());
        assertThat(chat.get("usage").get("prompt_tokens").intValue()).isEqualTo(expected.length());
    }

    @Test
    void templateRefusalIsTheSame400OnChatAndTokenizeAndStaysOutOfTheLog(CapturedOutput output) {
        String secret = "SECRET-conversation-text-7f3a";
        Object conversation = messages("user", secret, "system", secret);

        for (String path : new String[] {"/v1/chat/completions", "/tokenize"}) {
            post(path, Map.of("messages", conversation, "max_tokens", 2)).expectStatus().isBadRequest().expectBody()
                    .jsonPath("$.error.type").isEqualTo("invalid_request_error")
                    .jsonPath("$.error.param").isEqualTo("messages")
                    .jsonPath("$.error.message").isEqualTo("chat template: System messages must come first");
        }
        assertThat(output.getAll()).doesNotContain(secret);
    }
}
