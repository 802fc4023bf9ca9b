"""Coin slot and card reader: coins inserted within ``coin_window_s`` make one payment; a card pays (up to
``card_prepay_fen``) and the same card again stops its session. A payment goes to the port plugged most recently
without a session, or waits ``wait_plug_s`` for the next plug."""

from __future__ import annotations

from .sessions import Sessions
from .state import StartRefused


class Inputs(Sessions):
    def coin(self) -> None:
        with self.lock:
            self.coin_count += 1
            self.coin_last = self.now()

    def _coins_done(self) -> None:
        n, self.coin_count = self.coin_count, 0
        tariff = self.tariff
        try:
            self.pay("coin", f"{n} coin{'s' if n > 1 else ''}", n * tariff.coin_fen, n * tariff.coin_minutes * 60,
                     "coin_time")
        except StartRefused as e:
            self.refuse("coin", f"{e} ({n} coins, {n * tariff.coin_yuan:g} 元 to give back)")

    def card(self, card_id: str) -> None:
        with self.lock:
            allowed = self.cfg.cards_allowed
            if allowed is not None and card_id not in allowed:
                self.refuse("card", "card not accepted here", None, card_id)
                return
            busy = [p for p in self.ports if p.session is not None and p.session.source == "card"
                    and p.session.user == card_id]
            try:
                if busy:  # the same card again stops its session (how residents end a charge early)
                    self.stop_session(busy[0].number, "user_stop")
                    return
                self.pay("card", card_id, self.cfg.card_prepay_fen, 0, self.tariff.mode)
            except StartRefused as e:
                self.refuse("card", str(e), None, card_id)
