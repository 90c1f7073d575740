// The page for people: POST /predict?explain=true and show the verdict with its evidence.
"use strict";

// Close to the model's token pattern (?u)\b\w\w+\b: runs of two or more word characters.
const TOKEN = /[\p{L}\p{N}\p{M}_]{2,}/gu;

const $ = (id) => document.getElementById(id);

function weightsOf(explanation) {
  const weights = new Map();
  for (const item of [...explanation.positive, ...explanation.negative]) {
    weights.set(item.feature, item.weight);
  }
  return weights;
}

// Each word's share of the top n-grams it belongs to (a word pair counts for both words).
function scoreTokens(tokens, weights) {
  const scores = tokens.map((token) => weights.get(token.word) || 0);
  for (let i = 0; i + 1 < tokens.length; i++) {
    const pair = weights.get(`${tokens[i].word} ${tokens[i + 1].word}`);
    if (pair) {
      scores[i] += pair;
      scores[i + 1] += pair;
    }
  }
  return scores;
}

function renderHighlighted(text, explanation) {
  const target = $("highlighted");
  target.replaceChildren();
  const tokens = [...text.matchAll(TOKEN)].map((m) => ({
    word: m[0].toLowerCase(), start: m.index, end: m.index + m[0].length,
  }));
  const scores = scoreTokens(tokens, weightsOf(explanation));
  const strongest = Math.max(...scores.map(Math.abs), 1e-9);
  let position = 0;
  tokens.forEach((token, i) => {
    if (scores[i] === 0) return;
    target.append(text.slice(position, token.start));
    const mark = document.createElement("mark");
    mark.className = scores[i] > 0 ? "pos" : "neg";
    mark.style.setProperty("--strength", (0.2 + 0.6 * Math.abs(scores[i]) / strongest).toFixed(2));
    mark.title = `${scores[i] > 0 ? "+" : ""}${scores[i].toFixed(3)}`;
    mark.textContent = text.slice(token.start, token.end);
    target.append(mark);
    position = token.end;
  });
  target.append(text.slice(position));
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
}

async function analyse(event) {
  event.preventDefault();
  const text = $("review").value;
  const button = $("analyze");
  $("error").hidden = true;
  button.disabled = true;
  try {
    const response = await fetch("/predict?explain=true", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ text }),
    });
    const body = await response.json();
    if (!response.ok) {
      const detail = Array.isArray(body.detail) ? body.detail.map((d) => d.msg).join("; ") : body.detail;
      showError(`Cannot score this text: ${detail}`);
      return;
    }
    const label = $("label");
    const p = body.probability_positive;
    const unsure = notSure !== null && p > notSure.low && p < notSure.high;
    label.textContent = unsure ? "not sure" : body.label;
    label.className = `badge ${unsure ? "not-sure" : body.label}`;
    $("probability").textContent = percent(p);
    $("probability").title = p.toFixed(4);
    $("meter-fill").style.width = `${(100 * body.probability_positive).toFixed(1)}%`;
    $("model-version").textContent = body.model_version;
    renderHighlighted(text, body.explanation);
    shown = { text, predicted_label: body.label, probability_positive: p, model_version: body.model_version };
    resetFeedback();
    $("result").hidden = false;
  } catch (error) {
    showError(`The service did not answer: ${error.message}`);
  } finally {
    button.disabled = false;
  }
}

// The answer on screen, for "Was this right?": the label the model gave (also when the page
// says "not sure"), its probability and version, sent back with the user's verdict.
let shown = null;

function resetFeedback() {
  $("feedback-yes").disabled = $("feedback-no").disabled = false;
  $("feedback-status").textContent = "";
  $("feedback-status").className = "";
}

async function sendFeedback(right) {
  if (shown === null) return;
  const other = shown.predicted_label === "positive" ? "negative" : "positive";
  const label = right ? shown.predicted_label : other;
  const status = $("feedback-status");
  $("feedback-yes").disabled = $("feedback-no").disabled = true;
  try {
    const response = await fetch("/feedback", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ ...shown, label }),
    });
    if (response.status === 202) {
      status.textContent = "Thank you: your answer was recorded.";
      status.className = "thanks";
      return;
    }
    const body = await response.json().catch(() => ({}));
    const detail = Array.isArray(body.detail) ? body.detail.map((d) => d.msg).join("; ") : body.detail;
    throw new Error(detail || `HTTP ${response.status}`);
  } catch (error) {
    status.textContent = `Your answer was not recorded (${error.message}); please try again.`;
    status.className = "failed";
    $("feedback-yes").disabled = $("feedback-no").disabled = false;
  }
}

// The bundle's "not sure" band ({low, high}, chosen on validation), from its manifest at /model.
let notSure = null;

async function loadNotSureBand() {
  try {
    const response = await fetch("/model");
    if (response.ok) notSure = (await response.json()).not_sure ?? null;
  } catch (error) {
    notSure = null;
  }
}

// Whole percent, kept within 1-99: a linear model on a sentence is never 100 % right.
function percent(p) {
  return `${Math.min(99, Math.max(1, Math.round(100 * p)))}%`;
}

async function showModelVersion() {
  try {
    const response = await fetch("/ready");
    const body = await response.json();
    if (body.model_version) $("model-version").textContent = body.model_version;
  } catch (error) {
    $("model-version").textContent = "unavailable";
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("review-form").addEventListener("submit", analyse);
  $("feedback-yes").addEventListener("click", () => sendFeedback(true));
  $("feedback-no").addEventListener("click", () => sendFeedback(false));
  $("review").addEventListener("input", () => {
    $("counter").textContent = `${$("review").value.length} characters`;
  });
  showModelVersion();
  loadNotSureBand();
});
