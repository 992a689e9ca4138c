"""Demo bank, distribution step (last): researchers' requests in every state and one recall.

ctx in: ``users``, ``lots`` (labels ipsc_mcb, ipsc_wcb, ipsc_wcb2, patient_mcb, msc_mcb, msc_wcb, ...), ``lines``.
ctx out: ``requests`` (label → DistributionRequest), ``recalls`` (label → Recall).

It uses the lots the QC step released (SCBi001-A's MCB and WCB, the UC-MSC WCB). Everything goes
through the distribution services: submit, approve (allocation), pick, ship,
receive, reject, cancel, and a signed lot recall that notifies the recipient. Sharing (issue 15): institution
profiles, an enterprise fee rate, an enterprise request with its quotation, and a request to a partner in Germany
waiting for its export approval.
"""

from __future__ import annotations

import datetime

from django.utils import timezone

from bank.demo import DEMO_USERS
from distribution import services
from lots.choices import LotStatus


def load(ctx: dict) -> None:
    users, lines = ctx["users"], ctx["lines"]
    qa, tech = users["qa"], users["technician"]
    zhao, sun = users["researcher"], users["researcher2"]
    passwords = {username: password for username, _role, _name, password in DEMO_USERS}
    today = timezone.localdate()
    requests, recalls = {}, {}

    def submit(label, who, line, vials, use, title, institution, summary="", institution_type="public",
               country=None, address=None):
        requests[label] = services.submit_request(
            actor=who, cell_line=lines[line], vials=vials, intended_use=use, project_title=title,
            project_summary=summary, institution=institution, mta_accepted=True, institution_type=institution_type,
            recipient_country=country,
            shipping_address=address or f"{institution}\nCold chain reception, Building 3\nShanghai",
        )
        return requests[label]

    def ship(request, tracking, days_ago=0):
        for allocation in request.allocations.filter(released_at__isnull=True).select_related("vial"):
            services.confirm_pick(request, allocation.vial.barcode, actor=tech)
        return services.ship_request(request, actor=tech, courier="SF Express Cold Chain", tracking_number=tracking,
                                     shipped_on=today - datetime.timedelta(days=days_ago), require_all_picked=True)

    fudan, zju = "Fudan University, Institute of Neuroscience", "Zhejiang University School of Medicine"
    # Sharing (issue 15): the researchers' institution profiles, and QA's fee for enterprises on clinical lines.
    services.save_institution_profile(actor=zhao, name=fudan, institution_type="public", country="CN",
                                      address=f"{fudan}\n320 Yueyang Road\nShanghai", billing_contact="Finance office",
                                      billing_email="finance@fudan.example")
    services.save_institution_profile(actor=sun, name=zju, institution_type="public", country="CN",
                                      address=f"{zju}\n866 Yuhangtang Road\nHangzhou")
    services.set_fee_rate(actor=qa, institution_type="enterprise", grade="clinical", per_vial="2000.00")
    # Received: iPSC for dopaminergic neuron differentiation.
    received = submit("received", zhao, "ipsc", 2, "research", "Midbrain dopaminergic neurons from HLA-homozygous iPSC",
                      fudan, "Differentiate SCBi001-A into midbrain dopaminergic progenitors and compare protocols.")
    services.approve_request(received, actor=qa, reason="consent and grade checked")
    ship(received, "SF1402889311")
    services.receive_request(received, actor=zhao, condition="good", notes="Dry shipper still at -180 °C on arrival.")
    # Shipped (on its way): UC-MSC for a clinical study; this lot is recalled below.
    shipped = submit("shipped", sun, "uc_msc", 2, "clinical", "UC-MSC for knee osteoarthritis (phase I)", zju,
                     "Investigator-initiated phase I study, ethics approval ZJU-2026-031.")
    services.approve_request(shipped, actor=qa, reason="clinical-grade line, clinical consent on file")
    ship(shipped, "SF1402889577")
    # Approved with reserved vials, waiting for the technician.
    # An enterprise pays (REQUEST_FEE_ENTERPRISE_PER_VIAL per vial) and gets a quotation (PDF on the request page).
    approved = submit("approved", sun, "ipsc", 3, "commercial", "Cardiomyocyte toxicity screening panel",
                      "Hangzhou CardioScreen Biotech Co., Ltd.", institution_type="enterprise",
                      address="Hangzhou CardioScreen Biotech Co., Ltd.\n18 Xiyuan Road, Xihu District\nHangzhou")
    services.approve_request(approved, actor=qa)
    # Submitted, waiting for QA (one of them needs a consent check that fails).
    submit("submitted", zhao, "uc_msc", 1, "research", "MSC secretome and macrophage polarisation", fudan)
    submit("submitted_clinical", sun, "ipsc", 2, "clinical", "Retinal pigment epithelium patch, preclinical GLP",
           zju)
    if lines.get("ipsc_patient") and services.queries.catalog_lines().filter(
            cell_line=lines["ipsc_patient"]).exists():
        submit("submitted_scope", zhao, "ipsc_patient", 1, "commercial", "Parkinson's disease drug screening kit",
               fudan)
    # To a partner abroad: QA sees at review that it ships only with a Human Genetic Resources export approval.
    submit("submitted_export", zhao, "ipsc", 1, "research", "Joint iPSC-derived microglia study with Berlin",
           "Max Delbrück Center for Molecular Medicine", country="DE",
           address="Max Delbrück Center for Molecular Medicine\nRobert-Rössle-Str. 10\n13125 Berlin, Germany")
    # Rejected and cancelled.
    rejected = submit("rejected", sun, "uc_msc", 4, "research", "Exosome isolation", zju)
    services.reject_request(rejected, actor=qa, reason="The project summary is missing: describe the experiments "
                                                         "and resubmit.")
    cancelled = submit("cancelled", zhao, "ipsc", 1, "research", "Organoid pilot", fudan)
    services.cancel_request(cancelled, actor=zhao)
    # A recall: the UC-MSC working bank failed a mycoplasma re-test after the shipment left.
    msc_wcb = ctx["lots"].get("msc_wcb")
    if msc_wcb is not None:
        msc_wcb.refresh_from_db()
        if msc_wcb.status == LotStatus.RELEASED:
            recalls["msc_wcb"] = services.recall_lot(
                msc_wcb, actor=users["qa2"], password=passwords["qa2"],
                reason="Mycoplasma PCR positive on the retained-sample re-test.")
    ctx.update(requests=requests, recalls=recalls)
