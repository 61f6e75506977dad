"""``musicvae studio``: the shipped instruments in a browser page on this machine.

One Starlette app (:mod:`musicvae.studio.app`) served by uvicorn
(:mod:`musicvae.studio.server`) calls the same library functions the commands
call (:mod:`musicvae.studio.work`): morph, sample, blend, harmonize, and live
and synth sessions on the machine's ports (:mod:`musicvae.studio.sessions`).
Work runs on a small pool of threads as jobs whose progress the page follows
(:mod:`musicvae.studio.jobs`); uploads are size-limited and kept in the
studio's temporary folder (:mod:`musicvae.studio.uploads`). The page itself is
plain HTML, CSS and JavaScript in ``static/``: nothing to build.
"""
