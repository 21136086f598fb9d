// The official OpenAI Node SDK against KVPilot: models.retrieve, kv_compression sent as a typed extra body field,
// usage.kv_cache read back from a chat completion, a streamed chat and a text completion with several prompts.
// Run: KVPILOT_BASE_URL=http://localhost:8080/v1 KVPILOT_API_KEY=... npm run build && npm run example
// It prints one JSON line of what it saw; it exits non-zero on anything unexpected.
import OpenAI from "openai";
import { kvPilotUsage, type KvCompression, type WithKvCompression } from "./kvpilot.js";

const client = new OpenAI({
  baseURL: process.env.KVPILOT_BASE_URL ?? "http://localhost:8080/v1",
  apiKey: process.env.KVPILOT_API_KEY ?? "none",
  maxRetries: 0,
  timeout: 120_000,
});

function check(condition: boolean, what: string): asserts condition {
  if (!condition) {
    throw new Error(`unexpected answer: ${what}`);
  }
}

const [served] = (await client.models.list()).data;
const model = await client.models.retrieve(served.id);
check(model.id === served.id, "models.retrieve names the served model");

// 1. Chat with an explicit setting: the params type accepts kv_compression, usage.kv_cache comes back typed.
const keydiff: KvCompression = { method: "keydiff", ratio: 0.5, bits: 8 };
const chatParams: WithKvCompression<OpenAI.Chat.ChatCompletionCreateParamsNonStreaming> = {
  model: model.id,
  messages: [{ role: "user", content: "Tell me a short story about a rabbit." }],
  max_tokens: 8,
  temperature: 0,
  kv_compression: keydiff,
};
const chat = await client.chat.completions.create(chatParams);
const chatKv = kvPilotUsage(chat.usage)?.kv_cache;
check(chatKv !== undefined, "usage.kv_cache in a chat completion");
check(chatKv.method === "keydiff" && chatKv.bits === 8 && chatKv.decided_by === "request", "the requested setting");
check(chatKv.bytes < chatKv.bytes_uncompressed, "compressed bytes below uncompressed");

// 2. The same as a stream: with include_usage the last chunk carries usage, kv_cache included.
const streamParams: WithKvCompression<OpenAI.Chat.ChatCompletionCreateParamsStreaming> = {
  model: model.id,
  messages: [{ role: "user", content: "Once upon a time" }],
  max_tokens: 8,
  stream: true,
  stream_options: { include_usage: true },
  kv_compression: "off",
};
let streamed = "";
let streamKv;
for await (const chunk of await client.chat.completions.create(streamParams)) {
  streamed += chunk.choices[0]?.delta?.content ?? "";
  streamKv = kvPilotUsage(chunk.usage)?.kv_cache ?? streamKv;
}
check(streamKv !== undefined && streamKv.method === "none", "usage.kv_cache on the stream's usage chunk");

// 3. A text completion with two prompts: one choice per prompt, usage summed over both.
const completionParams: WithKvCompression<OpenAI.CompletionCreateParamsNonStreaming> = {
  model: model.id,
  prompt: ["Once upon a time", "The little rabbit"],
  max_tokens: 4,
  kv_compression: { method: "snapkv", ratio: 0.5 },
};
const completion = await client.completions.create(completionParams);
check(completion.choices.length === 2, "one choice per prompt");
const completionKv = kvPilotUsage(completion.usage)?.kv_cache;
check(completionKv?.method === "snapkv", "the setting of both prompts");

console.log(JSON.stringify({
  model: model.id,
  system_fingerprint: chat.system_fingerprint,
  chat_text: chat.choices[0].message.content,
  chat_kv_cache: chatKv,
  streamed_text: streamed,
  stream_kv_cache: streamKv,
  completion_choices: completion.choices.map((c) => c.index),
  completion_kv_cache: completionKv,
}));
