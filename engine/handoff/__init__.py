"""Zero-replay handoff: a caller leaves self-service and a person already knows.

summary   the trail read for the agent: verified?, why, a one-line summary,
          data captured, "don't ask again", the escalating node's agent note
facts     what the running session knew that the trail does not (a backend's
          answer), kept next to the trail
queue     app_queue's AMI events: who waits where, for how long
desks     agents' desktops and their queue membership (AMI QueueAdd/QueueRemove)
pushes    cards and forms an agent sends to the caller's page
callback  "call me back" for a journey with no call: policy and Originate
hub       all of the above around one running engine
api       the caller page's JSON (``/handoff``); the desktop is visual_ivr.agent
"""
