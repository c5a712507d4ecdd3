"""A customer's instance: the page (status, progress, health, events, usage), actions, credentials, logs."""
import re
from datetime import timedelta

from flask import Blueprint, Response, abort, current_app, flash, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required
from markupsafe import Markup, escape

from portal.catalog.forms import settings_form_class
from portal.catalog.parameters import SettingsInvalid
from portal.catalog.selectors import template_for
from portal.conditional import not_modified_or
from portal.extensions import limiter
from portal.instances import mail, selectors, services
from portal.instances.charts import Point, usage_chart
from portal.instances.forms import MailServerForm
from portal.rendering import client_ip, redirect_after_post, render_page, render_polling
from portal.subscriptions import services as subscriptions
from portal.subscriptions.states import SETTING_UP, allowed_actions
from portal.timestamps import utcnow

blueprint = Blueprint("instances", __name__, url_prefix="/instances")
TAILS = (100, 500, 2000)


def _own(subscription_id: int):
    return selectors.instance_for(user_id=current_user.id, subscription_id=subscription_id) or abort(404)


def _status_context(subscription, status, primary_domain=None) -> dict:
    """What the page's `status` block shows, and all its htmx poll computes (a quarter of the page traffic):
    the badge, progress, the parts and the timeline, so each poll shows the latest steps."""
    setting_up = subscription.state in SETTING_UP  # the block shows progress only then
    badge = selectors.instance_badge(subscription, status)
    address = selectors.instance_address(subdomain=subscription.subdomain, primary_domain=primary_domain)
    return {"subscription": subscription, "badge": badge, "components": selectors.components_of(subscription, status),
            "progress": selectors.progress_of(subscription) if setting_up else [],
            "url": address.url, "open_url": address.open_url, "emulated_cluster": address.emulated,
            "deletes_on": selectors.deletes_on(subscription), "events": selectors.events_of(subscription.id),
            "transitional": badge.changing, "setting_up": setting_up}


def _page_context(subscription, status, primary_domain=None) -> dict:
    """The whole page: the status block's context plus usage charts and actions."""
    samples = selectors.samples_of(subscription.id)
    end = utcnow()
    start = end - timedelta(hours=6)
    plan = subscription.plan
    # No samples yet: one line says so, rather than two empty charts.
    charts = [
        usage_chart([Point(s.taken_at, s.cpu_millicores) for s in samples], limit=plan.cpu_millicores,
                    start=start, end=end, title=_("CPU"), unit="millicores"),
        usage_chart([Point(s.taken_at, s.memory_mb) for s in samples], limit=plan.memory_mb,
                    start=start, end=end, title=_("Memory"), unit="MiB"),
    ] if samples else []
    actions = allowed_actions(subscription, ready=bool(status and status.ready),
                              rolling_out=bool(status and status.rollout))
    return {**_status_context(subscription, status, primary_domain), "actions": actions,
            "template": template_for(subscription.plan.service.slug), "charts": charts,
            "retention_days": current_app.config["RETENTION_DAYS"]}


def _block_only() -> bool:
    """htmx asks for a block (the same test render_page makes)."""
    return bool(getattr(request, "htmx", False)) and not request.htmx.boosted


@blueprint.route("/<int:subscription_id>")
@login_required
def show(subscription_id: int):
    """The instance page; its status block polls itself while the instance is changing (286 stops it), and an
    unchanged poll is a 304 decided from one query."""
    def render():
        subscription, status, primary = selectors.instance_with_status(
            user_id=current_user.id, subscription_id=subscription_id) or abort(404)
        context = (_status_context if _block_only() else _page_context)(subscription, status, primary)
        return render_polling("instances/show.html", block="status", settled=not context["transitional"], **context)

    def versions():  # None for another customer's instance: checked before any 304
        version = selectors.instance_version(user_id=current_user.id, subscription_id=subscription_id)
        return version and (version, selectors.instance_address(subdomain=version[2], primary_domain=version[-1]),
                            current_app.config["RETENTION_DAYS"])

    return not_modified_or(render, versions)


@blueprint.route("/<int:subscription_id>/restart", methods=["POST"])
@login_required
def restart(subscription_id: int):
    subscription = _own(subscription_id)
    try:
        services.instance_restart_request(subscription_id=subscription.id)
    except services.InstanceNotRunning as refusal:
        flash(str(refusal), "warning")
    else:
        flash(_("Restarting your instance. It is back in a minute or so."), "info")
    return redirect_after_post(url_for("instances.show", subscription_id=subscription.id))


@blueprint.route("/<int:subscription_id>/settings", methods=["GET", "POST"])
@login_required
def settings(subscription_id: int):
    subscription = _own(subscription_id)
    template = template_for(subscription.plan.service.slug)
    form_class = settings_form_class(template, with_subdomain=False)
    form = form_class(data=subscription.settings) if request.method == "GET" else form_class()
    if form.is_submitted():
        clean = form.validate_settings()
        if clean is not None:
            try:
                subscriptions.subscription_settings_update(subscription_id=subscription.id, settings=clean)
            except (SettingsInvalid, subscriptions.IllegalTransition) as error:
                form.form_errors.append(str(error))
            else:
                flash(_("Settings saved. Applying them to your instance now."), "success")
                return redirect_after_post(url_for("instances.show", subscription_id=subscription.id))
    status = 422 if form.is_submitted() else 200
    return render_page("instances/settings.html", block="form", status=status, subscription=subscription, form=form,
                       **_mail_context(subscription))


def _mail_context(subscription, form: MailServerForm | None = None, answer=None) -> dict:
    choice = mail.instance_mail_choice(subscription=subscription)
    if form is None:
        form = MailServerForm(formdata=None, host=choice.host, port=choice.port, tls_mode=choice.tls_mode,
                              username=choice.username, sender=choice.sender if choice.own_server else "")
    return {"mail_form": form, "mail_choice": choice, "mail_answer": answer}


def _mail_input(form: MailServerForm) -> mail.MailServerInput:
    return mail.MailServerInput(host=form.host.data or "", port=form.port.data, tls_mode=form.tls_mode.data or "",
                                username=form.username.data or "", password=form.password.data or "",
                                sender=form.sender.data or "")


def _mail_block(subscription, form: MailServerForm, *, status: int = 422, answer=None):
    # Without htmx the whole page renders: its settings form too, as stored (not from this post's fields).
    settings_form = None if _block_only() else settings_form_class(
        template_for(subscription.plan.service.slug), with_subdomain=False)(formdata=None, data=subscription.settings)
    return render_page("instances/settings.html", block="mail", status=status, subscription=subscription,
                       form=settings_form, **_mail_context(subscription, form, answer))


@blueprint.route("/<int:subscription_id>/mail", methods=["POST"])
@login_required
def mail_server(subscription_id: int):
    """Use the customer's own SMTP server (its password goes to the instance's Secret, never back to a page)."""
    subscription = _own(subscription_id)
    form = MailServerForm()
    if form.validate():
        try:
            mail.instance_mail_server_save(subscription=subscription, value=_mail_input(form),
                                           actor_id=current_user.id, ip=client_ip())
        except mail.MailServerInvalid as error:
            form.errors_from(error.errors)
        except subscriptions.IllegalTransition:
            form.form_errors.append(_("This instance has ended; its mail settings cannot change."))
        else:
            flash(_("Mail settings saved. Your instance now sends through your server; applying them now."), "success")
            return redirect_after_post(url_for("instances.settings", subscription_id=subscription.id))
    return _mail_block(subscription, form)


@blueprint.route("/<int:subscription_id>/mail/test", methods=["POST"])
@login_required
@limiter.limit(lambda: current_app.config["APP_MAIL_TEST_RATE_LIMIT"], key_func=lambda: f"mail-test:{current_user.id}")
def mail_test(subscription_id: int):
    """Send a test message through the server as typed, to the customer's own address; the answer in words."""
    subscription = _own(subscription_id)
    form = MailServerForm()
    if not form.validate():
        return _mail_block(subscription, form)
    try:
        answer = mail.instance_mail_server_test(subscription=subscription, value=_mail_input(form),
                                                recipient=current_user.email)
    except mail.MailServerInvalid as error:
        form.errors_from(error.errors)
        return _mail_block(subscription, form)
    return _mail_block(subscription, form, status=200, answer=answer)


@blueprint.route("/<int:subscription_id>/mail/relay", methods=["POST"])
@login_required
def mail_relay(subscription_id: int):
    """One click back to the hosting's own mail relay."""
    subscription = _own(subscription_id)
    try:
        changed = mail.instance_mail_relay_use(subscription=subscription, actor_id=current_user.id, ip=client_ip())
    except subscriptions.IllegalTransition:
        flash(_("This instance has ended; its mail settings cannot change."), "warning")
    else:
        flash(_("Your instance sends through the hosting's mail relay again; applying that now.") if changed
              else _("Your instance already sends through the hosting's mail relay."), "success" if changed else "info")
    return redirect_after_post(url_for("instances.settings", subscription_id=subscription.id))


@blueprint.route("/<int:subscription_id>/cancel", methods=["POST"])
@login_required
def cancel(subscription_id: int):
    subscription = _own(subscription_id)
    mode = request.form.get("mode")
    try:
        if mode == "period_end":
            subscriptions.subscription_cancel_at_period_end(subscription_id=subscription.id, cancel=True)
            flash(_("Your instance will stop when the paid period ends. You can change your mind until then."), "info")
        elif mode == "undo":
            subscriptions.subscription_cancel_at_period_end(subscription_id=subscription.id, cancel=False)
            flash(_("Your instance will renew as usual."), "success")
        elif mode == "now" and request.form.get("confirm") == subscription.subdomain:
            subscriptions.subscription_cancel_now(subscription_id=subscription.id)
            flash(ngettext("Your instance is stopped. Its data is kept for %(num)d day, then deleted.",
                           "Your instance is stopped. Its data is kept for %(num)d days, then deleted.",
                           current_app.config["RETENTION_DAYS"]), "warning")
        elif mode == "now":
            flash(_("Type the instance's address to confirm cancelling now."), "warning")
        else:
            abort(400)
    except subscriptions.IllegalTransition:
        flash(_("This instance cannot be cancelled in its current state."), "warning")
    return redirect_after_post(url_for("instances.show", subscription_id=subscription.id))


@blueprint.route("/<int:subscription_id>/credentials", methods=["POST"])
@login_required
def credentials(subscription_id: int):
    subscription = _own(subscription_id)
    values = services.instance_credentials(subscription=subscription, actor_id=current_user.id, ip=client_ip())
    response = render_page("instances/_credentials.html", values=values)
    response.headers["Cache-Control"] = "no-store"
    return response


def _log_request(subscription):
    template = template_for(subscription.plan.service.slug)
    names = [c.name for c in template.components]
    component = request.args.get("component") or names[0]
    tail = request.args.get("tail", 100, type=int)
    tail = tail if tail in TAILS else 100
    query = (request.args.get("q") or "").strip()[:100]
    previous = request.args.get("previous") == "1"
    return names, component, tail, query, previous


def highlight(line: str, query: str) -> Markup:
    """The line escaped, with every case-insensitive match of the query wrapped in <mark>."""
    if not query:
        return escape(line)
    parts = re.split(f"({re.escape(query)})", line, flags=re.IGNORECASE)
    return Markup("").join(Markup("<mark>{}</mark>").format(p) if i % 2 else escape(p) for i, p in enumerate(parts))


def _filter(lines, query):
    return [(stamp, highlight(text, query)) for stamp, text in lines if not query or query.lower() in text.lower()]


@blueprint.route("/<int:subscription_id>/logs")
@login_required
def logs(subscription_id: int):
    """The log viewer; htmx asks for the `viewer` block when the filters change."""
    subscription = _own(subscription_id)
    names, component, tail, query, previous = _log_request(subscription)
    result = services.instance_log(subscription=subscription, component=component, tail=tail, previous=previous)
    last = next((stamp for stamp, _ in reversed(result.lines) if stamp), "")
    return render_page("instances/logs.html", block="viewer", subscription=subscription, components=names,
                       component=component, tail=tail, tails=TAILS, query=query, previous=previous, result=result,
                       lines=_filter(result.lines, query), last=last)


@blueprint.route("/<int:subscription_id>/logs/follow")
@login_required
def logs_follow(subscription_id: int):
    """Only the lines after `after` (a timestamp): appended below, with the next poll carrying the new mark."""
    subscription = _own(subscription_id)
    names, component, tail, query, previous = _log_request(subscription)
    after = (request.args.get("after") or "")[:40]
    result = services.instance_log(subscription=subscription, component=component, tail=tail,
                                   since_time=after or None)
    last = next((stamp for stamp, _ in reversed(result.lines) if stamp), after)
    return render_page("instances/_log_follow.html", subscription=subscription, component=component, tail=tail,
                       query=query, lines=_filter(result.lines, query), last=last)


@blueprint.route("/<int:subscription_id>/logs/download")
@login_required
def logs_download(subscription_id: int):
    subscription = _own(subscription_id)
    names, requested, tail, query, previous = _log_request(subscription)
    # The file name is built from the instance's own names only (a DNS-label subdomain, a template's component):
    # nothing the request sent reaches the header, so no quote or CR/LF can rewrite it.
    component = next((name for name in names if name == requested), None) or abort(404)
    result = services.instance_log(subscription=subscription, component=component, tail=2000, previous=previous)
    text = "\n".join(f"{stamp} {line}".strip() for stamp, line in result.lines) or (result.problem or "")
    filename = f"{subscription.subdomain}-{component}{'-previous' if previous else ''}.log"
    return Response(text + "\n", mimetype="text/plain",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
