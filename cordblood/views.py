"""Pages of the cordblood app: units, mothers and their donations, sites and collectors, discards.

Views check the permission, parse a form, call one service and render; refusals land on the form.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from bank import coding, tally
from bank.exports import exportable
from bank.roles import has_role
from bank.web import call_service, perms_required
from cordblood import forms, queries, services
from cordblood.choices import Acceptance, Ownership
from cordblood.exports import unit_queryset
from cordblood.models import CollectionSite, CordBloodUnit, FamilyContract
from donors.models import Donor
from donors.queries import eligibility_for

VIEW_UNIT = "cordblood.view_cordbloodunit"
PROCESS = "cordblood.process_cordbloodunit"
LIST = "cordblood.list_cordbloodunit"


# --- units --------------------------------------------------------------------------------------


@perms_required(VIEW_UNIT)
@exportable("cordblood.units")
def unit_list(request):
    form = forms.UnitFilterForm(request.GET or None)
    params = form.cleaned_data if form.is_bound and form.is_valid() else {}
    qs = unit_queryset(request.user, params)  # the page and its export list the same rows (cordblood/exports.py)
    page = tally.page_with_count(qs, 50, request.GET.get("page"),
                                 count=queries.unit_count(request.user, params) if not form.errors else None)
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "cordblood/unit_list.html", {
        "form": form, "page": page, "query": query.urlencode(),
        "bank_user": has_role(request.user, *queries.BANK_ROLES),
    })


def _unit_context(request, unit: CordBloodUnit, forms_in: dict | None = None) -> dict:
    user = request.user
    donation = unit.donation
    bank_user = has_role(user, *queries.BANK_ROLES)
    contract = FamilyContract.objects.filter(unit=unit).prefetch_related("payments").first()
    context = {
        "unit": unit, "donation": donation, "bank_user": bank_user, "contract": contract,
        "vials": list(unit.lot.vials.select_related("box").order_by("number")) if unit.lot_id else [],
        "eligibility": eligibility_for(donation.infant, donation.collection) if bank_user and donation.collection
        else None,
        "twins": list(services.pregnancy_donations(donation).exclude(pk=donation.pk).select_related("infant", "unit"))
        if bank_user else [],
        "can_process": user.has_perm(PROCESS), "can_list": user.has_perm(LIST),
        "can_contract": user.has_perm("cordblood.add_familycontract"),
        "pending": unit.acceptance == Acceptance.PENDING,
        "accepted": unit.acceptance == Acceptance.ACCEPTED and unit.lot_id is None,
        "open": unit.acceptance in (Acceptance.PENDING, Acceptance.ACCEPTED) and unit.lot_id is None,
        "family": unit.ownership == Ownership.FAMILY,
        "freeze_window_hours": services.freeze_window_hours(),
        "accept_form": forms.AcceptForm(initial={"collected_volume_ml": unit.collected_volume_ml,
                                                 "bag_intact": True}),
        "discard_form": forms.DiscardForm(), "divert_form": forms.DivertForm(),
        "processing_form": forms.ProcessingForm(initial=_processing_initial(unit)),
        "freeze_form": forms.FreezeForm(), "listing_form": forms.ListingForm(initial={"status": unit.listing_status}),
        "contract_form": forms.ContractForm(), "payment_form": forms.PaymentForm(),
        "release_form": forms.ReleaseRequestForm(), "donate_form": forms.DonateForm(),
    }
    context.update(forms_in or {})
    return context


def _processing_initial(unit: CordBloodUnit) -> dict:
    """The processing form: the record so far (a correction before the freeze), else what acceptance measured."""
    if not unit.processing_method:
        return {"volume_pre_ml": unit.collected_volume_ml, "tnc_pre": unit.tnc_pre}
    return {"method": unit.processing_method, "started_at": unit.processing_started_at,
            "ended_at": unit.processing_ended_at, "volume_pre_ml": unit.volume_pre_ml,
            "volume_post_ml": unit.volume_post_ml, "tnc_pre": unit.tnc_pre, "tnc_post": unit.tnc_post,
            "cd34_post": unit.cd34_post, "nrbc_pct": unit.nrbc_pct, "hct_pct": unit.hct_pct, "abo": unit.abo,
            "rh": unit.rh, "equipment": unit.equipment,
            "reagent_lots": "\n".join(f"{r['name']}: {r['lot']}" for r in unit.reagent_lots)}


def _visible_unit(request, pk: int) -> CordBloodUnit:
    return get_object_or_404(queries.units_visible_to(request.user).select_related("donation__collection"), pk=pk)


@perms_required(VIEW_UNIT)
def unit_detail(request, pk: int):
    unit = _visible_unit(request, pk)
    return render(request, "cordblood/unit_detail.html", _unit_context(request, unit))


def _unit_action(request, pk: int, form_class, form_key: str, call, done: str):
    unit = _visible_unit(request, pk)
    form = form_class(request.POST)
    if form.is_valid():
        _result, ok = call_service(request, form, call, unit, form)
        if ok:
            messages.success(request, done)
            return redirect("cordblood:unit", pk=unit.pk)
    unit = _visible_unit(request, pk)
    return render(request, "cordblood/unit_detail.html", _unit_context(request, unit, {form_key: form}), status=400)


@perms_required(PROCESS)
@require_POST
def unit_accept(request, pk: int):
    return _unit_action(request, pk, forms.AcceptForm, "accept_form", lambda unit, form: services.accept_unit(
        unit, actor=request.user, collected_volume_ml=form.cleaned_data["collected_volume_ml"],
        tnc=form.cleaned_data["tnc"], clots=form.cleaned_data["clots"], bag_intact=form.cleaned_data["bag_intact"]),
        _("Accepted for processing."))


@perms_required(PROCESS)
@require_POST
def unit_discard(request, pk: int):
    return _unit_action(request, pk, forms.DiscardForm, "discard_form", lambda unit, form: services.discard_unit(
        unit, actor=request.user, reason=form.cleaned_data["reason"], note=form.cleaned_data["note"]),
        _("Unit discarded."))


@perms_required(PROCESS)
@require_POST
def unit_divert(request, pk: int):
    return _unit_action(request, pk, forms.DivertForm, "divert_form", lambda unit, form: services.divert_to_research(
        unit, actor=request.user, note=form.cleaned_data["note"]), _("Unit diverted to research."))


@perms_required(PROCESS)
@require_POST
def unit_processing(request, pk: int):
    def call(unit, form):
        data = {k: v for k, v in form.cleaned_data.items() if k != "reagent_lots"}
        return services.record_processing(unit, actor=request.user, reagent_lots=form.reagents(), **data)

    return _unit_action(request, pk, forms.ProcessingForm, "processing_form", call, _("Processing recorded."))


@perms_required(PROCESS, "lots.add_lot")
@require_POST
def unit_freeze(request, pk: int):
    return _unit_action(request, pk, forms.FreezeForm, "freeze_form", lambda unit, form: services.freeze_unit(
        unit, actor=request.user, **form.cleaned_data), _("Unit frozen: its lot is in quarantine."))


@perms_required(LIST)
@require_POST
def unit_listing(request, pk: int):
    return _unit_action(request, pk, forms.ListingForm, "listing_form", lambda unit, form: services.set_listing_by_qa(
        unit, form.cleaned_data["status"], reason=form.cleaned_data["reason"], until=form.cleaned_data["until"],
        actor=request.user), _("Search status changed."))


@perms_required("cordblood.add_familycontract")
@require_POST
def unit_contract(request, pk: int):
    return _unit_action(request, pk, forms.ContractForm, "contract_form", lambda unit, form: services.create_contract(
        unit, actor=request.user, **form.cleaned_data), _("Contract recorded."))


def _contract_action(request, pk: int, form_class, form_key: str, call, done: str):
    contract = get_object_or_404(FamilyContract, pk=pk)
    return _unit_action(request, contract.unit_id, form_class, form_key,
                        lambda unit, form: call(contract, form), done)


@perms_required("cordblood.add_contractpayment")
@require_POST
def contract_payment(request, pk: int):
    return _contract_action(request, pk, forms.PaymentForm, "payment_form", lambda c, form: services.record_payment(
        c, actor=request.user, **form.cleaned_data), _("Payment recorded."))


@perms_required("cordblood.change_familycontract")
@require_POST
def contract_release_request(request, pk: int):
    return _contract_action(request, pk, forms.ReleaseRequestForm, "release_form",
                            lambda c, form: services.request_release(c, actor=request.user,
                                                                     note=form.cleaned_data["note"]),
                            _("The owner's release request is recorded."))


@perms_required("cordblood.change_familycontract")
@require_POST
def contract_donate(request, pk: int):
    return _contract_action(request, pk, forms.DonateForm, "donate_form",
                            lambda c, form: services.donate_to_public(c, actor=request.user,
                                                                      reason=form.cleaned_data["reason"]),
                            _("The unit is now in the public inventory."))


@perms_required(VIEW_UNIT)
def unit_report(request, pk: int):
    from django.http import HttpResponse

    from cordblood.report import report_pdf

    unit = _visible_unit(request, pk)
    response = HttpResponse(report_pdf(unit), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{unit.din}.pdf"'
    return response


@perms_required(VIEW_UNIT)
@exportable("cordblood.discards")
def discards(request):
    return render(request, "cordblood/discards.html", {
        "rows": queries.discards_by_reason(), "acceptance": queries.acceptance_counts()})


# --- mothers and donations ----------------------------------------------------------------------


@perms_required("cordblood.view_infantdonation")
@exportable("cordblood.donations")
def donation_list(request):
    page = tally.page_with_count(queries.donations_list(), 50, request.GET.get("page"),
                                 count=tally.total("cordblood.donation"))
    return render(request, "cordblood/donation_list.html", {"page": page, "query": ""})


@perms_required("donors.add_donor", "cordblood.add_infantdonation")
@require_http_methods(["GET", "POST"])
def mother_new(request):
    form = forms.MotherForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        mother, ok = call_service(request, form, services.register_mother, actor=request.user,
                                  birth_year=data["birth_year"], population=data["population"],
                                  identity={k: data[k] for k in ("full_name", "national_id", "phone")})
        if ok:
            messages.success(request, _("Mother registered as donor %(code)s. Record her consent and screening on "
                                        "her donor page; then register the baby.") % {"code": mother.code})
            return redirect("cordblood:mother", pk=mother.pk)
    return render(request, "cordblood/mother_new.html", {"form": form}, status=400 if form.errors else 200)


@perms_required("cordblood.view_infantdonation")
def mother_detail(request, pk: int):
    mother = get_object_or_404(Donor, pk=pk)
    return render(request, "cordblood/mother_detail.html", {
        "mother": mother, "donations": list(queries.donations_of(mother)),
        "can_add": request.user.has_perm("cordblood.add_infantdonation")})


@perms_required("cordblood.add_infantdonation")
@require_http_methods(["GET", "POST"])
def donation_new(request, pk: int):
    mother = get_object_or_404(Donor, pk=pk)
    form = forms.DonationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        donation, ok = call_service(
            request, form, services.register_infant_donation, mother, actor=request.user, sex=data["sex"],
            born_at=data["born_at"], gestational_age_weeks=data["gestational_age_weeks"],
            birth_weight_g=data["birth_weight_g"], delivery_type=data["delivery_type"], site=data["site"],
            collector=data["collector"], birth_order=data["birth_order"], questionnaire=form.questionnaire(),
            consent_form_version=data["consent_form_version"], consent_signed_on=data["consent_signed_on"],
            consent_scopes=data["consent_scopes"], collected_at=data["collected_at"],
            received_at=data["received_at"], collected_volume_ml=data["collected_volume_ml"],
            ownership=data["ownership"])
        if ok:
            messages.success(request, _("Baby registered as donor %(code)s; unit %(din)s awaits acceptance.") % {
                "code": donation.infant.code, "din": donation.unit.din})
            return redirect("cordblood:unit", pk=donation.unit.pk)
    return render(request, "cordblood/donation_new.html", {"form": form, "mother": mother,
                                                           "questions": [f"q_{c}" for c, _l in forms.QUESTIONS]},
                  status=400 if form.errors else 200)


# --- sites --------------------------------------------------------------------------------------


@perms_required("cordblood.view_collectionsite")
@require_http_methods(["GET", "POST"])
@exportable("cordblood.sites")
def site_list(request):
    form = forms.SiteForm(request.POST or None)
    if request.method == "POST":
        if not request.user.has_perm("cordblood.add_collectionsite"):
            messages.error(request, _("Your role does not allow this action."))
            return redirect("cordblood:sites")
        if form.is_valid():
            site, ok = call_service(request, form, services.create_site, actor=request.user, **form.cleaned_data)
            if ok:
                messages.success(request, _("Site %(code)s added.") % {"code": site.code})
                return redirect("cordblood:site", pk=site.pk)
    page = Paginator(queries.sites_with_collectors().order_by("code"), 50).get_page(request.GET.get("page"))
    page.object_list = queries.with_donation_counts(page.object_list)
    return render(request, "cordblood/site_list.html", {
        "page": page, "form": form, "query": "", "can_add": request.user.has_perm("cordblood.add_collectionsite")},
        status=400 if form.errors else 200)


@perms_required("cordblood.view_collectionsite")
@require_http_methods(["GET", "POST"])
def site_detail(request, pk: int):
    site = get_object_or_404(CollectionSite, pk=pk)
    form = forms.CollectorForm(request.POST or None)
    if request.method == "POST":
        if not request.user.has_perm("cordblood.add_collector"):
            messages.error(request, _("Your role does not allow this action."))
            return redirect("cordblood:site", pk=pk)
        if form.is_valid():
            _collector, ok = call_service(request, form, services.add_collector, site, actor=request.user,
                                          **form.cleaned_data)
            if ok:
                messages.success(request, _("Collector added."))
                return redirect("cordblood:site", pk=pk)
    return render(request, "cordblood/site_detail.html", {
        "site": site, "collectors": list(site.collectors.all()), "form": form,
        "can_add": request.user.has_perm("cordblood.add_collector")}, status=400 if form.errors else 200)


# --- scan ---------------------------------------------------------------------------------------


def unit_url_for_scan(code: str, user):
    """The header scan field: a DIN (with or without its check character) opens the unit."""
    from django.urls import reverse

    if not user.has_perm(VIEW_UNIT):
        return None
    try:
        din = coding.donation_number(code)  # a DIN (typed, scanned, with flags) or a SEC (bank/coding.py)
    except coding.CodeError:
        return None  # the check character is there to catch a mistyped DIN: never open another unit
    if din is None:
        return None
    # values_list: the visible units' select_related cannot be combined with only("pk") (a FieldError: a 500
    # for every scanned DIN).
    pk = queries.units_visible_to(user).filter(din=din).values_list("pk", flat=True).first()
    return reverse("cordblood:unit", args=[pk]) if pk else None
