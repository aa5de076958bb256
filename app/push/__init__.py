"""Web Push: notifications reach people whose browser is closed (RFC 8030/8291/8292).

subscriptions.py  subscribe, list, delete (checked keys, safe endpoints, a bound per user)
endpoints.py      the SSRF rule: https:// on 443 at a push service, on public addresses only,
                  checked again at send
pinning.py        the sender's connections go to the addresses that check passed
vapid.py          the server's VAPID key (generated once into a file) and its signed header
payload.py        what a push carries, cut to fit, and its Urgency
sender.py         one encrypted POST to a push service, its answer as an Outcome
receipts.py       who has subscriptions (per instance), and which of them a stream reached
service.py        the above as one part of the app (started and stopped by the lifespan)
dispatcher.py     notifications -> due pushes (one cursor for every instance), then claims
                  due pushes and sends them with bounded concurrency (and a limit per
                  salon), retries
SQL: app/db/repositories/push.py (subscriptions, receipts), push_outbox.py (the queue).
"""
