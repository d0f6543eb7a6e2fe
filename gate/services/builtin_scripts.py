"""The polite scripts (话术) from the staff rules: the built-in wording of every kiosk banner.

English source strings; the zh_CN catalogue holds the rules' exact Chinese wording. A site may
word a script its own way per language (gate.services.script_library); the kiosk shows that.
"""

from flask_babel import lazy_gettext as _l

SCRIPTS = {
    # 篇3 §三 基本礼貌用语
    "greeting": _l("Hello! How can I help you?"),
    # 篇3 §六.2, §六.4 接听电话
    "phone_answer": _l("Hello, security post."),
    "phone_close": _l("Thank you, goodbye!"),
    "phone_dialect": _l("Sorry, could you speak Mandarin, please?"),
    # 篇3 §十 保安员检查
    "inspection": _l("Knock or ring 1-3 times; salute, greet, and state your unit and purpose."),
    # 篇3 §五.17, §十三.2 投诉咨询
    "complaint": _l("Tell me frankly what the trouble is; I hope I can help you."),
    "complaint_forward": _l("For complaints, please go to the Owner Service Centre; "
                            "we will pass it on for you."),
    # 篇3 §五.13, §十三 当值时
    "patrol": _l("Sorry to disturb you."),
    "handover": _l("Count the equipment together before you both sign: whoever signs "
                   "without checking owns the shortage."),
    "orders": _l("Read every post order before starting your shift."),
    # 篇3 §四 对来访人员
    "ask_host": _l("Hello, whom are you visiting?"),
    "show_id": _l("Please show your ID."),
    "wait_host": _l("Please wait a moment, I'll find them for you."),
    "id_refused": _l("Sorry, sir/madam, this is company policy, for the residents' safety; "
                     "please understand."),
    "forgot_id": _l("Sir/madam, please wait a moment, let me ask my supervisor."),
    "forced": _l("Sorry, by company rules no one may enter without ID; please cooperate with my work."),
    "welcome": _l("Thank you for your cooperation, welcome."),
    "host_absent": _l("Sorry, they are not in now; would you like to leave a card or a message?"),
    "goodbye": _l("Welcome back any time, goodbye!"),
    # SPEC §2.2 visitor passes at the gate (篇3 §四 style: polite, and what the visitor does next)
    "pass_show": _l("Hello! Please hold the QR code of your pass up to the scanner."),
    "pass_unreadable": _l("Sorry, the code could not be read; please hold it steady in front of the "
                          "scanner once more."),
    "pass_invalid": _l("Sorry, this pass cannot be accepted. Whom are you visiting? Please show your "
                       "ID and I will contact them for you."),
    "pass_other_site": _l("Sorry, this pass is for another estate. Whom are you visiting here?"),
    "pass_not_yet_valid": _l("Sorry, this pass is not valid yet; please come back at the time on the "
                             "pass, or register at the desk."),
    "pass_expired": _l("Sorry, this pass has expired; please ask the resident you are visiting to send "
                       "a new one, or register at the desk."),
    "pass_used_up": _l("Sorry, this pass has already been used; please ask the resident you are "
                       "visiting to send a new one, or register at the desk."),
    "pass_no_longer_valid": _l("Sorry, this pass is no longer valid. Whom are you visiting? Please "
                               "register at the desk."),
    # 篇3 §十一 保安员检查工地: salute first, then ask politely for the permits
    "worker_pass": _l("Hello, please show your temporary residence permit, ID card and site pass."),
    "worker_hours": _l("Sorry, renovation work is only allowed during the permitted hours; please come "
                       "back then. Thank you for your understanding."),
    # 篇3 §五.14 业主搬出大宗物品: greet first, then ask for the release slip; help carry
    "slip_ask": _l("Hello, sir/madam! … Sorry, please show your release slip!"),
    "slip_none": _l("Sorry, goods can only leave with a release slip; please apply at the Owner "
                    "Service Centre."),
    "slip_done": _l("Thank you. Can I help you carry anything?"),
    "slip_not_valid": _l("Sorry, this release slip cannot be accepted; please check it with the Owner "
                         "Service Centre."),
    "slip_not_now": _l("Sorry, this release slip cannot be used today; please go to the Owner Service "
                       "Centre."),
    "slip_used": _l("Sorry, the goods on this release slip have already left; a slip can be used only "
                    "once. Please apply at the Owner Service Centre."),
    "slip_mismatch": _l("Sorry, the goods do not match the release slip; please have it corrected at "
                        "the Owner Service Centre."),
    "slip_partial": _l("Sorry, a release slip lets its goods out together, once; please bring all of "
                       "them, then show the slip again."),
    # SPEC §2.4 a car the gate does not know: polite, and what the driver does next
    "vehicle_refuse": _l("Sorry, this car cannot enter without a registration; please park outside and "
                         "register at the gate."),
}
