"""Protocol-faithful fakes of the outside services Nexus talks to, each a real server on 127.0.0.1.

``anthropic_server.FakeAnthropic`` and ``openai_server.FakeOpenAI`` share their scripting API
(``Reply``, ``Error``, ``MidStreamError``, ``Hang``, ``Disconnect`` in ``_server``). Importing this
package stays cheap: each fake imports its web stack only when its module is imported.
"""
