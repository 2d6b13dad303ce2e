"""The web client's own rules, run in the browser on its shipped modules: ids and seqs stay
exact past 2^53 (JavaScript numbers would round them), gaps are seen, ticks follow receipts."""

from __future__ import annotations

from playwright.async_api import Browser

from deploy.single_node import SingleNode
from tests.web.conftest import web_url

RULES = """async () => {
  const { ChatStore } = await import("/store.js");
  const store = new ChatStore("alice");
  const big = "9007199254740993"; // 2^53 + 1: Number() would make it ...992
  const read = { unread: "0", readSeq: "9007199254740992", peerId: "bob" }; // a list row: read up to 2^53
  store.upsertConversation({ conversationId: big, kind: "CONVERSATION_KIND_DIRECT" }, read);
  const conv = store.conversations.get(big);
  const message = (seq, senderId = "bob") => ({ conversationId: big, seq, senderId, body: seq });
  store.addMessage(message("9007199254740993"));
  store.addMessage(message("9007199254740994"));
  store.addMessage(message("9007199254740996")); // ...995 is missing
  store.addMessage(message("9007199254740994")); // pushed twice: kept once
  store.addPending(big, "c1", "mine");
  store.acked({ conversationId: big, seq: "9007199254740997", messageId: "7219348756123648123",
                clientMsgId: "c1", sentAtMs: "1700000000000" });
  const mine = conv.messages.get("9007199254740997");
  const ticks = [store.tickOf(conv, mine)];
  const receipt = (kind, upToSeq) => store.receipt({ conversationId: big, userId: "bob", kind, upToSeq });
  receipt("RECEIPT_KIND_DELIVERED", "9007199254740997");
  ticks.push(store.tickOf(conv, mine));
  receipt("RECEIPT_KIND_READ", "9007199254740996");
  ticks.push(store.tickOf(conv, mine)); // read up to the one before: still delivered
  receipt("RECEIPT_KIND_READ", "9007199254740997");
  ticks.push(store.tickOf(conv, mine));
  return {
    ids: [...store.conversations.keys()],
    seqs: store.messagesOf(conv).map((m) => m.seq),
    contiguous: String(store.contiguousSeq(conv)),
    unread: String(conv.unread),
    messageId: mine.messageId,
    peer: store.peerOf(conv),
    ticks,
  };
}"""


async def test_ids_stay_exact_and_ticks_follow_receipts(browser: Browser, node: SingleNode) -> None:
    page = await browser.new_page()
    try:
        await page.goto(web_url(node))
        result = await page.evaluate(RULES)
    finally:
        await page.close()
    assert result == {
        "ids": ["9007199254740993"],
        "seqs": ["9007199254740993", "9007199254740994", "9007199254740996", "9007199254740997"],
        "contiguous": "9007199254740994",
        "unread": "4",
        "messageId": "7219348756123648123",
        "peer": "bob",
        "ticks": ["sent", "delivered", "delivered", "read"],
    }
