// How calls are put in words: the entry of a finished call, its length, and why a call we
// made ended without a conversation.

export function duration(seconds) {
  const s = Math.round(seconds || 0);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

// One sentence for a finished call, seen by `me`.
export function describe(call, me, nameOf) {
  const kind = call.media === "video" ? "video call" : "voice call";
  const Kind = kind[0].toUpperCase() + kind.slice(1);
  const mine = call.caller_id === me;
  const caller = nameOf(call.caller_id);
  switch (call.outcome) {
    case "completed":
      return `${mine ? `${Kind} you made` : `${Kind} from ${caller}`} · ${duration(call.duration_seconds)}`;
    case "missed":
      return mine ? `${Kind}: no answer` : `Missed ${kind} from ${caller}`;
    case "cancelled":
      return mine ? `${Kind} cancelled` : `Missed ${kind} from ${caller}`;
    case "declined":
      return mine ? `${Kind} declined` : `Declined ${kind} from ${caller}`;
    case "busy":
      return mine ? `${Kind}: busy on another call` : `${caller} called while you were on another call`;
    case "failed":
      return `${Kind} could not connect`;
    default:
      return `${Kind} in progress`;
  }
}

// Why our call ended, in the call view. `who` is the other person of a direct chat, if any.
export function endReason(outcome, who) {
  switch (outcome) {
    case "declined":
      return who ? `${who} declined the call.` : "Everyone declined the call.";
    case "missed":
      return who ? `${who} did not answer.` : "Nobody answered.";
    case "busy":
      return who ? `${who} is on another call.` : "Everyone is on another call.";
    case "failed":
      return "The call could not connect. Check your network and try again.";
    case "cancelled":
      return "The call was cancelled.";
    default:
      return "Call ended.";
  }
}
