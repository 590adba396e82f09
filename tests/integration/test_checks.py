"""Unit tests of checks.py on hand-written event lists (run as `selftest` by
run.py, or alone: python3 tests/integration/test_checks.py)."""
import copy
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checks  # noqa: E402

MAIN, CHILD = "0x7f0000001000", "0x7f0000002000"
TID = 4242


def gt_two_tasks():
    """main (Task-1) creates "child" and awaits it; child yields once."""
    return {
        "scenario": "canned", "exit": "normal", "notes": [], "threads": {},
        "tasks": [
            {"name": "Task-1", "coro": "main", "addr": MAIN, "tid": TID,
             "creator": None, "creator_addr": None, "steps": 2,
             "end": {"result": "returned"}, "running_at_exit": False,
             "awaits": ["child"],
             "waits": [{"kind": "task", "name": "child", "addr": CHILD,
                        "type": "_asyncio.Task"}],
             "eager": False, "nested_first": False, "destroyed": True},
            {"name": "child", "coro": "spin", "addr": CHILD, "tid": TID,
             "creator": "Task-1", "creator_addr": MAIN, "steps": 2,
             "end": {"result": "raised", "exception": "ValueError"},
             "running_at_exit": False, "awaits": [],
             "waits": [{"kind": "yield"}],
             "eager": False, "nested_first": False, "destroyed": True},
        ],
    }


def ev(event, ts, task=None, **kw):
    e = {"event": event, "ts_ns": ts, "tid": TID}
    if task is not None:
        e.update(task=task, name={MAIN: "Task-1", CHILD: "child"}[task],
                 coro={MAIN: "main", CHILD: "spin"}[task])
    e.update(kw)
    return e


def step(ts, task, woken_by=None, throw=False, nested=False):
    return ev("step", ts, task, woken_by=woken_by, throw=throw, nested=nested)


def woken(ts, task, by, by_name, throw=False):
    return ev("woken", ts, task, by=by, by_task=by_name is not None, by_name=by_name, throw=throw)


def step_end(ts, task, dur, result, boundary="next_step", **kw):
    return ev("step_end", ts, task, duration_ns=dur, result=result,
              boundary=boundary, **kw)


def done(ts, task, result, exception=None, requests=0, by=None, by_name=None, req_ts=None):
    return ev("done", ts, task, result=result, exception=exception, cancel_requests=requests,
              cancel_by=by, cancel_by_name=by_name, cancel_ts_ns=req_ts)


def events_two_tasks():
    """The trace aps-bpf should print for gt_two_tasks()."""
    return [
        ev("created", 100, MAIN, creator=None, creator_name=None),
        step(110, MAIN),
        ev("created", 120, CHILD, creator=MAIN, creator_name="Task-1"),
        step_end(130, MAIN, 20, "awaiting", awaiting=CHILD, awaiting_task=True,
                 awaiting_name="child", awaiting_type="_asyncio.Task"),
        step(140, CHILD),
        step_end(150, CHILD, 10, "yielded"),
        step(160, CHILD),
        step_end(170, CHILD, 10, "raised", exception="ValueError"),
        done(170, CHILD, "raised", "ValueError"),
        woken(180, MAIN, CHILD, "child"),
        step(180, MAIN, woken_by=CHILD, throw=False),
        step_end(190, MAIN, 10, "returned", boundary="loop_poll"),
        done(190, MAIN, "returned"),
        ev("destroyed", 200, CHILD),
        ev("destroyed", 210, MAIN),
        {"event": "summary", "ts_ns": 300, "tid": TID, "reason": "target_exited",
         "tasks": 2, "steps": 4, "lost_events": 0, "read_errors": 0},
    ]


def with_cancel():
    """main cancels child in its first step (the child catches it and goes on)."""
    gt = gt_two_tasks()
    gt["cancels"] = [{"task": "child", "task_addr": CHILD, "by": "Task-1", "by_addr": MAIN,
                      "already_done": False, "msg": "bye"}]
    evs = events_two_tasks()
    evs.insert(3, ev("cancel_requested", 125, CHILD, by=MAIN, by_name="Task-1",
                     already_done=False, by_unverified=False, requests=1, msg="bye"))
    for e in evs:
        if e["event"] == "done" and e["task"] == CHILD:
            e.update(cancel_requests=1, cancel_by=MAIN, cancel_by_name="Task-1", cancel_ts_ns=125)
    return evs, gt


def failed(events, gt):
    return dict(checks.run_checks(events, gt))


class TestCorrect(unittest.TestCase):
    def test_correct_trace_passes(self):
        self.assertEqual(failed(events_two_tasks(), gt_two_tasks()), {})

    def test_parse_lines(self):
        evs, problems = checks.parse_lines('{"event":"summary"}\n\nnot json\n[1]\n')
        self.assertEqual(evs, [{"event": "summary"}])
        self.assertEqual(len(problems), 2)

    @staticmethod
    def cut_at_exit(result):
        """Main is mid-step when the process exits; its cut step reads `result`."""
        gt = gt_two_tasks()
        gt["tasks"][0].update(end=None, running_at_exit=True, destroyed=False)
        gt["tasks"][1]["destroyed"] = False
        evs = [e for e in events_two_tasks()
               if not (e.get("task") == MAIN and e["event"] in ("done", "destroyed"))
               and not (e.get("task") == CHILD and e["event"] == "destroyed")]
        for e in evs:
            if e["event"] == "step_end" and e["task"] == MAIN and e["result"] == "returned":
                e.update(result=result, boundary="exit")
        return evs, gt

    def test_pending_task_at_exit(self):
        self.assertEqual(failed(*self.cut_at_exit("unknown")), {})

    def test_pending_task_at_exit_not_unknown_fails(self):
        self.assertIn("check_endings", failed(*self.cut_at_exit("yielded")))

    def test_cancel_passes(self):
        self.assertEqual(failed(*with_cancel()), {})

    def test_cancels_not_watched(self):
        """No "cancels" in the ground truth: the lines are not compared."""
        evs, gt = with_cancel()
        del gt["cancels"]
        self.assertEqual(failed(evs, gt), {})


class TestBroken(unittest.TestCase):
    def assertFails(self, events, check, gt=None):
        f = failed(events, gt or gt_two_tasks())
        self.assertIn(check, f, f"{check} should fail; failed: {f}")
        return f

    def test_missing_step(self):
        evs = events_two_tasks()
        del evs[6:8]             # child's second step and its step_end
        self.assertFails(evs, "check_step_counts")

    def test_step_without_end(self):
        evs = events_two_tasks()
        del evs[5]               # child's first step_end
        self.assertFails(evs, "check_step_pairing")

    def test_extra_task(self):
        evs = events_two_tasks()
        evs.insert(3, {"event": "created", "ts_ns": 125, "tid": TID, "task": "0x7f0000003000",
                       "name": "intruder", "coro": "x", "creator": MAIN,
                       "creator_name": "Task-1"})
        f = self.assertFails(evs, "check_task_set")
        self.assertTrue(any("intruder" in p for p in f["check_task_set"]))

    def test_missing_task(self):
        evs = [e for e in events_two_tasks() if e.get("task") != CHILD]
        self.assertFails(evs, "check_task_set")

    def test_wrong_edge(self):
        evs = events_two_tasks()
        evs[3]["awaiting_name"] = "someone-else"
        self.assertFails(evs, "check_awaits")
        self.assertFails(evs, "check_waits")

    def test_awaiting_a_future_instead_of_the_task(self):
        evs = events_two_tasks()
        evs[3].update(awaiting="0x7f0000009000", awaiting_task=False,
                      awaiting_name=None, awaiting_type="_asyncio.Future")
        self.assertFails(evs, "check_waits")
        self.assertFails(evs, "check_woken_by")

    def test_awaiting_type_missing(self):
        evs = events_two_tasks()
        evs[3]["awaiting_type"] = None
        self.assertFails(evs, "check_waits")

    def test_wrong_creator(self):
        evs = events_two_tasks()
        evs[2]["creator_name"] = None
        evs[2]["creator"] = None
        self.assertFails(evs, "check_identity")

    def test_wrong_address(self):
        evs = events_two_tasks()
        for e in evs:
            if e.get("task") == CHILD:
                e["task"] = "0x7f0000002008"
        self.assertFails(evs, "check_task_set")

    def test_wrong_ending(self):
        evs = events_two_tasks()
        evs[7].update(result="returned")
        del evs[7]["exception"]
        self.assertFails(evs, "check_endings")

    def test_missing_done(self):
        evs = events_two_tasks()
        del evs[8]
        self.assertFails(evs, "check_endings")

    def test_done_not_right_after_step_end(self):
        evs = events_two_tasks()
        evs.insert(8, evs.pop(9))   # main's step between child's step_end and done
        self.assertFails(evs, "check_endings")

    def test_intermediate_result_finished(self):
        evs = events_two_tasks()
        evs[5]["result"] = "returned"
        self.assertFails(evs, "check_intermediate_results")

    def test_wrong_tid(self):
        evs = events_two_tasks()
        evs[4]["tid"] = TID + 1
        self.assertFails(evs, "check_tids")

    def test_nested_wrong(self):
        evs = events_two_tasks()
        evs[4]["nested"] = True
        self.assertFails(evs, "check_nested")

    def test_eager_first_step_not_nested(self):
        gt = gt_two_tasks()
        gt["tasks"][1].update(eager=True, nested_first=True)
        self.assertFails(events_two_tasks(), "check_nested", gt)

    def test_throw_wrong(self):
        evs = events_two_tasks()
        for e in evs:
            if e["event"] in ("step", "woken") and e.get("woken_by", e.get("by")) == CHILD:
                e["throw"] = True
        self.assertFails(evs, "check_throw")

    def test_missing_woken_line(self):
        evs = [e for e in events_two_tasks() if e["event"] != "woken"]
        self.assertFails(evs, "check_woken_lines")

    def test_lost_events(self):
        evs = events_two_tasks()
        evs[-1]["lost_events"] = 3
        evs.insert(5, {"event": "lost", "ts_ns": 1, "tid": TID, "count": 3})
        self.assertFails(evs, "check_no_lost")

    def test_summary_missing_or_not_last(self):
        evs = events_two_tasks()
        self.assertFails(evs[:-1], "check_summary")
        evs.append(copy.deepcopy(evs[0]))
        self.assertFails(evs, "check_summary")

    def test_summary_reason(self):
        evs = events_two_tasks()
        evs[-1]["reason"] = "interrupted"
        self.assertFails(evs, "check_summary")

    def test_seen_event(self):
        evs = events_two_tasks()
        evs.insert(1, dict(evs[0], event="seen"))
        self.assertFails(evs, "check_no_seen")

    def test_destroyed_unknown_or_missing(self):
        evs = events_two_tasks()
        evs[-2]["task"] = "0x7f0000005000"    # main's destroyed -> unknown task
        f = self.assertFails(evs, "check_destroyed")
        self.assertEqual(len(f["check_destroyed"]), 2)

    def test_renamed_task(self):
        evs = events_two_tasks()
        evs[2]["name"] = "Task-2"
        self.assertFails(evs, "check_task_set")
        self.assertFails(evs, "check_names_consistent")

    def test_cancel_wrong_requester(self):
        evs, gt = with_cancel()
        evs[3].update(by=None, by_name=None)
        self.assertFails(evs, "check_cancels", gt)

    def test_cancel_missing_or_extra(self):
        evs, gt = with_cancel()
        self.assertFails(evs[:3] + evs[4:], "check_cancels", gt)
        evs.insert(4, dict(evs[3], ts_ns=126, requests=2))
        self.assertFails(evs, "check_cancels", gt)

    def test_cancel_fields(self):
        for k, v in (("already_done", True), ("msg", None), ("requests", 2),
                     ("by_unverified", True), ("task", MAIN)):
            evs, gt = with_cancel()
            evs[3][k] = v
            self.assertFails(evs, "check_cancels", gt)

    def test_done_cancel_fields(self):
        for k, v in (("cancel_requests", 0), ("cancel_by", None), ("cancel_by_name", "x"),
                     ("cancel_ts_ns", 1)):
            evs, gt = with_cancel()
            next(e for e in evs if e["event"] == "done" and e["task"] == CHILD)[k] = v
            self.assertFails(evs, "check_cancels", gt)
        evs, gt = with_cancel()
        del next(e for e in evs if e["event"] == "done")["cancel_requests"]
        self.assertFails(evs, "check_schema", gt)

    def test_schema(self):
        evs = events_two_tasks()
        del evs[1]["nested"]
        evs[3]["ts_ns"] = "130"
        f = self.assertFails(evs, "check_schema")
        self.assertEqual(len(f["check_schema"]), 2)


if __name__ == "__main__":
    unittest.main()
